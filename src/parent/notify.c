/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>

#include "log.h"
#include "notify.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

static void notify_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        (void) sd_notify(0, "WATCHDOG=1");
}

int notify_setup(Notify *n, struct ev_loop *loop) {
        uint64_t usec = 0;
        int r;

        *n = (Notify) { .loop = loop };

        r = sd_watchdog_enabled(0, &usec);
        if (r < 0)
                return log_warning_errno(r, "Failed to read the watchdog settings, ignoring: %m");
        if (r > 0 && usec > 0) {
                /* ping at half the interval, as sd_watchdog_enabled(3) advises */
                double every = (double) usec / 2e6;

                ev_timer_init(&n->watchdog, notify_watchdog_cb, every, every);
                ev_timer_start(loop, &n->watchdog);
                n->watchdog_on = true;
                (void) sd_notify(0, "WATCHDOG=1");
                log_debug("Watchdog enabled, pinging every %.3f s", every);
        }
        return 0;
}

void notify_done(Notify *n) {
        if (n->watchdog_on)
                ev_timer_stop(n->loop, &n->watchdog);
        n->watchdog_on = false;
}

void notify_ready(Notify *n, const char *status) {
        snprintf(n->status, sizeof n->status, "%s", status);
        (void) sd_notifyf(0, "READY=1\nSTATUS=%s", n->status);
}

void notify_reloading(Notify *n) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        (void) sd_notifyf(0, "RELOADING=1\nSTATUS=Reloading configuration\nMONOTONIC_USEC=%llu",
                          (unsigned long long) ts.tv_sec * 1000000ull + (unsigned long long) ts.tv_nsec / 1000ull);
        snprintf(n->status, sizeof n->status, "Reloading configuration");
}

void notify_stopping(Notify *n) {
        (void) sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
        snprintf(n->status, sizeof n->status, "Stopping");
}

void notify_status(Notify *n, const char *status) {
        if (strncmp(n->status, status, sizeof n->status) == 0)
                return;
        snprintf(n->status, sizeof n->status, "%s", status);
        (void) sd_notifyf(0, "STATUS=%s", n->status);
}

/*
 * SIGTERM of a stop and SIGTERM of a restart look the same; the service
 * manager knows the difference: its job for our unit.  Asked over the
 * system bus (one second at most); anything but a queued restart job, or
 * no answer, means a stop.
 */
bool notify_restart_queued(void) {
        sd_bus *bus = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *unit = NULL, *path = NULL, *type = NULL;
        const char *job = NULL;
        uint32_t id = 0;
        bool restart = false;

        if (!getenv("NOTIFY_SOCKET") || sd_pid_get_unit(0, &unit) < 0)
                goto finish;
        if (sd_bus_open_system(&bus) < 0 || sd_bus_set_method_call_timeout(bus, 1000000) < 0)
                goto finish;
        if (sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path) < 0)
                goto finish;
        if (sd_bus_get_property(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit", "Job",
                                &error, &reply, "(uo)") < 0 ||
            sd_bus_message_read(reply, "(uo)", &id, &job) < 0 || id == 0 || !job)
                goto finish;
        if (sd_bus_get_property_string(bus, "org.freedesktop.systemd1", job, "org.freedesktop.systemd1.Job",
                                       "JobType", &error, &type) < 0)
                goto finish;
        restart = strcmp(type, "restart") == 0 || strcmp(type, "try-restart") == 0 ||
                  strcmp(type, "reload-or-restart") == 0;
finish:
        free(type);
        free(path);
        free(unit);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
        return restart;
}
