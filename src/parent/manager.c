/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "guest.h"
#include "log.h"
#include "manager.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#define MANAGER_STATUS_DELAY 0.2        /* seconds */
#define MANAGER_STATUS_REFRESH 5.0      /* seconds */
#define MANAGER_STOP_TIMEOUT 10.0       /* seconds the workers have to tear their servers down */

/* ---- sockets passed by the service manager ---- */

/*
 * What the service manager passes: listening sockets (socket activation, or
 * our own kept across a restart as xirq.l.N), and the store's descriptors
 * (xirq.state, xirq.[sce].N: the state, counters, clients, eventfds).
 */
static int manager_collect_passed_fds(Manager *m, bool *ret_restored) {
        char **names = NULL;
        int *store_fds = NULL;
        char **store_names = NULL;
        size_t n_store = 0;
        int n, r;

        n = sd_listen_fds_with_names(1, &names);
        if (n < 0)
                return log_error_errno(n, "Failed to read the descriptors passed by the service manager: %m");
        if (n > 0) {
                m->listen_fds = calloc((size_t) n, sizeof(int));
                m->listen_paths = calloc((size_t) n, sizeof(char *));
                m->listen_used = calloc((size_t) n, sizeof(bool));
                store_fds = calloc((size_t) n, sizeof(int));
                store_names = calloc((size_t) n, sizeof(char *));
                if (!m->listen_fds || !m->listen_paths || !m->listen_used || !store_fds || !store_names) {
                        r = log_error_errno(ENOMEM, "Out of memory");
                        goto finish;
                }
        }

        for (int i = 0; i < n; i++) {
                /* moved above the passed range: the low numbers are for proc_config_open() */
                int fd = fcntl(SD_LISTEN_FDS_START + i, F_DUPFD_CLOEXEC, SD_LISTEN_FDS_START + n);
                const char *name = names && names[i] ? names[i] : "";
                struct sockaddr_un sa;
                socklen_t len = sizeof(sa);

                if (fd >= 0)
                        close(SD_LISTEN_FDS_START + i);
                else
                        fd = SD_LISTEN_FDS_START + i;
                if (strncmp(name, "xirq.", 5) == 0 && strncmp(name, "xirq.l.", 7) != 0) {
                        store_fds[n_store] = fd;
                        store_names[n_store++] = names[i];
                        continue;
                }
                m->listen_fds[m->n_listen++] = fd;
                if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
                        log_warning("Passed fd %d is not a listening AF_UNIX SOCK_SEQPACKET socket, ignoring", fd);
                        continue;
                }
                memset(&sa, 0, sizeof(sa));
                if (getsockname(fd, (struct sockaddr *) &sa, &len) < 0 || len <= offsetof(struct sockaddr_un, sun_path) ||
                    sa.sun_path[0] != '/')
                        continue;
                m->listen_paths[m->n_listen - 1] = strndup(sa.sun_path, len - offsetof(struct sockaddr_un, sun_path));
                if (!m->listen_paths[m->n_listen - 1]) {
                        r = log_error_errno(ENOMEM, "Out of memory");
                        goto finish;
                }
        }

        r = store_open(&m->store, store_fds, store_names, n_store, ret_restored);
        if (r < 0)
                log_error_errno(r, "Failed to set up the state kept across restarts: %m");
finish:
        free(store_fds);
        free(store_names);
        if (names)
                for (int i = 0; i < n; i++)
                        free(names[i]);
        free(names);
        return r;
}

static int manager_take_listen_fd(Manager *m, const char *path) {
        for (size_t i = 0; i < m->n_listen; i++)
                if (!m->listen_used[i] && m->listen_paths[i] && strcmp(m->listen_paths[i], path) == 0) {
                        m->listen_used[i] = true;
                        return m->listen_fds[i];
                }
        return -1;
}

/* A guest's passed socket is closed by guest_free(); it may be passed again only on restart. */

/* ---- guests ---- */

static Guest *manager_find_guest(Manager *m, const char *name) {
        for (Guest *g = m->guests; g; g = g->next)
                if (strcmp(g->name, name) == 0)
                        return g;
        return NULL;
}

/* The store's record of the guest with this name, or STORE_NONE. */
static uint32_t manager_guest_record(Manager *m, const char *name) {
        for (uint32_t i = 0; i < store_records(m->store); i++) {
                StoreGuest sg;

                if (store_get_guest(m->store, i, &sg) == 0 && strcmp(sg.name, name) == 0)
                        return i;
        }
        return STORE_NONE;
}

static int manager_add_guest(Manager *m, const GuestConfig *gc, uint32_t restore) {
        int fd = manager_take_listen_fd(m, gc->socket);
        Guest *g;
        int r;

        if (restore != STORE_NONE)
                r = guest_new_restored(&g, m->loop, gc, fd, &m->procs, &m->guest_events, m->store, restore);
        else
                r = guest_new(&g, m->loop, gc, fd, &m->procs, &m->guest_events, m->store);
        if (r < 0)
                return log_error_errno(r, "Guest %s: failed to listen on %s: %m", gc->name, gc->socket);

        g->next = m->guests;
        if (m->guests)
                m->guests->prev = g;
        m->guests = g;
        m->n_guests++;
        log_info("Guest %s: listening on %s", g->name, gc->socket);
        return 0;
}

static void manager_unlink_guest(Manager *m, Guest *g) {
        if (g->prev)
                g->prev->next = g->next;
        else
                m->guests = g->next;
        if (g->next)
                g->next->prev = g->prev;
        g->next = g->prev = NULL;
        m->n_guests--;
}

static void manager_remove_guest(Manager *m, Guest *g) {
        manager_unlink_guest(m, g);
        log_info("Guest %s: removed", g->name);
        guest_free(g);
}

/* Out of the configuration: its socket and clients go now, its server once its worker has torn it down. */
static void manager_retire_guest(Manager *m, Guest *g) {
        manager_unlink_guest(m, g);
        log_info("Guest %s: removed", g->name);
        guest_retire(g);
        g->next = m->retiring;
        if (m->retiring)
                m->retiring->prev = g;
        m->retiring = g;
        ev_prepare_start(m->loop, &m->retired);
}

/* ---- domains ---- */

/* Guests without a domain take the one with their name, if it runs (start, reload). */
static void manager_match_domains(Manager *m) {
        if (!m->xs)
                return;
        for (Guest *g = m->guests; g; g = g->next)
                if (g->domid == GUEST_NO_DOMID) {
                        uint32_t domid = xenxs_find_name(m->xs, g->name);

                        if (domid != XENXS_NO_DOMID)
                                guest_set_domid(g, domid);
                }
}

static void manager_xs_changed(Xenxs *x, int error, const XenxsDomain *added, size_t n_added,
                               const uint32_t *removed, size_t n_removed, void *userdata) {
        Manager *m = userdata;

        if (error < 0) {
                /* guests keep the domids they have; a restart reconnects */
                if (!xenxs_watching(x))
                        log_error_errno(error, "Lost the xenstore connection, no longer following domains: %m");
                else
                        log_warning_errno(error, "Failed to list domains in xenstore, trying again at the next event: %m");
                return;
        }

        /* a guest whose domain went away takes another with its name, if there is one (the newest) */
        for (size_t i = 0; i < n_removed; i++)
                for (Guest *g = m->guests; g; g = g->next)
                        if (g->domid == removed[i]) {
                                uint32_t domid = xenxs_find_name(x, g->name);

                                guest_set_domid(g, domid == XENXS_NO_DOMID ? GUEST_NO_DOMID : domid);
                        }

        /* a guest keeps the domain it has while that one runs */
        for (size_t i = 0; i < n_added; i++) {
                Guest *g = manager_find_guest(m, added[i].name);

                if (g && g->domid == GUEST_NO_DOMID)
                        guest_set_domid(g, added[i].domid);
        }
}

/* ---- a restart ---- */

/*
 * The state an earlier parent left: the clients of each guest (their
 * connections never closed) and their registrations (their eventfds).  What does not fit (a guest no longer configured, a
 * descriptor that did not come back) is dropped, and its descriptors closed.
 */
static void manager_restore(Manager *m) {
        uint32_t n = store_records(m->store);
        Guest **guest_of = calloc(n, sizeof(*guest_of));
        Client **client_of = calloc(n, sizeof(*client_of));
        unsigned guests = 0, clients = 0, regs = 0, dropped = 0;

        if (!guest_of || !client_of) {
                log_error("Out of memory: nothing of the earlier state is restored");
                free(guest_of);
                free(client_of);
                return;
        }
        for (Guest *g = m->guests; g; g = g->next)
                if (g->record < n) {
                        guest_of[g->record] = g;
                        guests++;
                }
        for (uint32_t rec = 0; rec < n; rec++) {
                StoreClient sc;
                StoreGuest sg;

                switch (store_kind(m->store, rec)) {
                case STORE_GUEST:
                        if (!guest_of[rec] && store_get_guest(m->store, rec, &sg) == 0)
                                log_warning("Guest %s is no longer configured: its connections are closed%s", sg.name,
                                            sg.server_id != STORE_NONE ? " and its ioreq server left as it is" : "");
                        if (!guest_of[rec])
                                store_remove(m->store, rec);
                        break;
                case STORE_CLIENT:
                        if (store_get_client(m->store, rec, &sc) < 0 || sc.guest >= n || !guest_of[sc.guest] ||
                            guest_restore_client(guest_of[sc.guest], rec, &sc, &client_of[rec]) < 0) {
                                store_remove(m->store, rec);
                                dropped++;
                        } else
                                clients++;
                        break;
                default:
                        break;
                }
        }
        for (uint32_t rec = 0; rec < n; rec++) {
                StoreReg sr;
                StoreIrqfd si;
                StoreClaim scl;

                switch (store_kind(m->store, rec)) {
                case STORE_IRQFD:
                        if (store_get_irqfd(m->store, rec, &si) < 0 || si.client >= n || !client_of[si.client] ||
                            guest_restore_irqfd(client_of[si.client]->owner, client_of[si.client], rec, &si) < 0) {
                                store_remove(m->store, rec);
                                dropped++;
                        } else
                                regs++;
                        break;
                case STORE_CLAIM:
                        if (store_get_claim(m->store, rec, &scl) < 0 || scl.client >= n || !client_of[scl.client] ||
                            guest_restore_claim(client_of[scl.client]->owner, client_of[scl.client], rec, &scl) < 0) {
                                store_remove(m->store, rec);
                                dropped++;
                        } else
                                regs++;
                        break;
                case STORE_REG:
                        if (store_get_reg(m->store, rec, &sr) < 0 || sr.client >= n || !client_of[sr.client] ||
                            guest_restore_reg(client_of[sr.client]->owner, client_of[sr.client], rec, &sr) < 0) {
                                store_remove(m->store, rec);
                                dropped++;
                        } else
                                regs++;
                        break;
                default:
                        break;
                }
        }
        log_info("Restored %u connections and %u registrations, irqfds and claims of %u guests from before the"
                 " restart%s", clients, regs, guests, dropped ? " (some could not be: see above)" : "");
        if (dropped)
                log_warning("%u connections or registrations of the earlier state could not be restored", dropped);
        free(guest_of);
        free(client_of);
}

/* Restored guests whose domain still runs: workers take their servers over. */
static void manager_resume(Manager *m) {
        for (Guest *g = m->guests; g; g = g->next) {
                const char *name = g->domid == GUEST_NO_DOMID ? NULL : xenxs_domain_name(m->xs, g->domid);

                /* gone, or its domid is another domain's now: clients closed, its server went with it */
                if (g->domid != GUEST_NO_DOMID && (!name || strcmp(name, g->name) != 0)) {
                        uint32_t domid = xenxs_find_name(m->xs, g->name);

                        guest_set_domid(g, domid == XENXS_NO_DOMID ? GUEST_NO_DOMID : domid);
                }
                guest_resume(g);
        }
}

/* ---- status ---- */

void manager_status_string(Manager *m, char *buf, size_t size) {
        unsigned running = 0, serving = 0, workers = 0, regs = 0, clients = 0;
        unsigned long long kicks = 0, unmatched = 0, reads = 0, invalid = 0, other = 0;
        unsigned long long forwarded = 0, expired = 0, injected = 0;

        for (Guest *g = m->guests; g; g = g->next) {
                IoreqStats st = guest_stats(g);

                if (g->domid != GUEST_NO_DOMID)
                        running++;
                if (guest_state(g) == XIRQ_GUEST_SERVING)
                        serving++;
                if (guest_busy(g))
                        workers++;
                regs += guest_registrations(g);
                clients += g->n_clients;
                kicks += st.kicks;
                unmatched += st.unmatched;
                reads += st.reads;
                invalid += st.invalid;
                other += st.other;
                forwarded += st.forwarded;
                expired += st.expired;
                injected += st.injected;
        }
        snprintf(buf, size,
                 "%u guests configured, %u running, %u serving, %u registrations, %u connections, %u workers; "
                 "%llu kicks, %llu unmatched, %llu reads, %llu invalid, %llu other; %llu forwarded, %llu expired, "
                 "%llu injected",
                 m->n_guests, running, serving, regs, clients, workers, kicks, unmatched, reads, invalid, other,
                 forwarded, expired, injected);
}

static void manager_status_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        Manager *m = container_of(w, Manager, status_timer);
        char status[512];

        manager_status_string(m, status, sizeof status);
        notify_status(&m->notify, status);
}

/* the counters move without any other change: refresh now and then (unchanged text is not sent) */
static void manager_status_refresh_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        Manager *m = container_of(w, Manager, status_refresh);

        manager_update_status(m);
}

/*
 * STATUS= is coalesced: at most one message per MANAGER_STATUS_DELAY, however
 * fast clients come and go (each message is a syscall, and a blocking one if
 * the service manager is slow to read them).
 */
void manager_update_status(Manager *m) {
        if (ev_is_active(&m->status_timer))
                return;
        /* set again: a one-shot timer that has fired would otherwise fire at once */
        ev_timer_set(&m->status_timer, MANAGER_STATUS_DELAY, 0.);
        ev_timer_start(m->loop, &m->status_timer);
}

/* ---- guests' events ---- */

static void manager_guest_changed(Guest *g, void *userdata) {
        manager_update_status(userdata);
}

/* A stop ends once no guest has a worker left. */
static void manager_guest_quiet(Guest *g, void *userdata) {
        Manager *m = userdata;

        if (m->retiring)
                ev_prepare_start(m->loop, &m->retired);
        if (!m->stopping)
                return;
        for (Guest *i = m->guests; i; i = i->next)
                if (guest_busy(i))
                        return;
        if (m->retiring)
                return;
        ev_break(m->loop, EVBREAK_ALL);
}

/* Retired guests whose workers are done are freed (outside their callbacks); the reload is then complete. */
static void manager_retired_cb(struct ev_loop *loop, ev_prepare *w, int revents) {
        Manager *m = container_of(w, Manager, retired);

        ev_prepare_stop(loop, w);
        for (Guest *g = m->retiring, *next; g; g = next) {
                next = g->next;
                if (guest_busy(g))
                        continue;
                if (g->prev)
                        g->prev->next = g->next;
                else
                        m->retiring = g->next;
                if (g->next)
                        g->next->prev = g->prev;
                guest_free(g);
        }
        if (!m->retiring && m->reload_ready_owed) {
                char status[512];

                m->reload_ready_owed = false;
                manager_status_string(m, status, sizeof status);
                notify_ready(&m->notify, status);
        }
        if (m->stopping)
                manager_guest_quiet(NULL, m);
}

/* ---- workers ---- */

/* Who the workers run as, from the configuration (new workers only: running ones keep theirs). */
static int manager_worker_ids(Manager *m, const Config *c) {
        char err[512] = "";
        uid_t uid;
        gid_t gid;
        int r;

        r = config_worker_ids(c, &uid, &gid, err, sizeof err);
        if (r < 0)
                return log_error_errno(r, "Invalid configuration: %s", err[0] ? err : strerror(-r));
        m->procs.uid = uid;
        m->procs.gid = gid;
        m->procs.uid_base = c->worker_uid_base;
        return 0;
}

/* ---- reload ---- */

/* A new control socket path: the new socket replaces the old one, or the old one stays (none: tried again). */
static void manager_reload_control(Manager *m, const Config *new) {
        Control *c;
        int r;

        control_set_max_connections(m->control, new->control_max_connections);
        if (m->control && strcmp(new->control_socket, m->config->control_socket) == 0)
                return;
        r = control_new(&c, m->loop, m, new->control_socket, new->control_max_connections, -1);
        if (r < 0) {
                if (m->control)
                        log_error_errno(r, "Failed to listen on the control socket %s, keeping %s: %m",
                                        new->control_socket, m->config->control_socket);
                else
                        log_error_errno(r, "Failed to listen on the control socket %s: %m", new->control_socket);
                return;
        }
        control_free(m->control);
        m->control = c;
        log_info("Control socket moved to %s", new->control_socket);
}

int manager_reload(Manager *m) {
        char err[512] = "";
        Config *new = NULL, *old = m->config;
        int r;

        notify_reloading(&m->notify);
        log_info("Reloading configuration");

        r = config_load(m->config_path, NULL, &new, err, sizeof err);
        if (r >= 0) {
                uid_t uid;
                gid_t gid;

                r = config_worker_ids(new, &uid, &gid, err, sizeof err);
                if (r < 0)
                        config_free(new);
        }
        if (r < 0) {
                char status[512];

                log_error_errno(r, "Configuration not reloaded, keeping the old one: %s", err[0] ? err : strerror(-r));
                manager_status_string(m, status, sizeof status);
                notify_ready(&m->notify, status);
                return r;
        }

        /* guests that are gone, or whose socket changed, go first (a socket path may move) */
        for (Guest *g = m->guests, *next; g; g = next) {
                const GuestConfig *gc = config_find_guest(new, g->name);

                next = g->next;
                if (!gc || strcmp(gc->socket, g->config->socket) != 0 || gc->socket_uid != g->config->socket_uid ||
                    gc->socket_gid != g->config->socket_gid || gc->socket_mode != g->config->socket_mode)
                        manager_retire_guest(m, g);
                else {
                        if (!guest_config_equal(gc, g->config))
                                log_info("Guest %s: new limits and allowed users apply", g->name);
                        guest_update_config(g, gc);
                }
        }

        manager_reload_control(m, new);
        m->config = new;
        config_free(old);
        (void) manager_worker_ids(m, new);
        log_set_max_level(m->verbose ? LOG_DEBUG : new->log_level);

        for (size_t i = 0; i < new->n_guests; i++)
                if (!manager_find_guest(m, new->guests[i]->name))
                        (void) manager_add_guest(m, new->guests[i], STORE_NONE);

        manager_match_domains(m);

        /* complete once the removed guests' servers are gone */
        m->reload_ready_owed = true;
        ev_prepare_start(m->loop, &m->retired);
        log_info("Configuration reloaded: %u guests", m->n_guests);
        return 0;
}

/* ---- signals ---- */

static void manager_sighup_cb(struct ev_loop *loop, ev_signal *w, int revents) {
        (void) manager_reload(container_of(w, Manager, sig_hup));
}

static void manager_stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        Manager *m = container_of(w, Manager, stop_timeout);

        log_warning("Workers did not finish within %.0f s, killing them", MANAGER_STOP_TIMEOUT);
        for (Guest *g = m->guests; g; g = g->next)
                guest_kill(g);
        for (Guest *g = m->retiring; g; g = g->next)
                guest_kill(g);
        ev_break(loop, EVBREAK_ALL);
}

/*
 * A handover: this process goes, everything it serves stays for the next
 * one (the state is kept as it changes, so there is nothing to save now).
 * Workers die with it; the next parent's workers take their servers over.
 */
static void manager_handover(Manager *m, int status) {
        log_info("Handing over to the next xen-ioreqd: servers, connections and registrations stay");
        store_freeze(m->store);
        m->exit_status = status;
        notify_stopping(&m->notify);
        ev_break(m->loop, EVBREAK_ALL);
}

static void manager_sigusr2_cb(struct ev_loop *loop, ev_signal *w, int revents) {
        /* the service manager starts the next one: RestartForceExitStatus= in the unit */
        manager_handover(container_of(w, Manager, sig_usr2), MANAGER_EXIT_HANDOVER);
}

static void manager_sigterm_cb(struct ev_loop *loop, ev_signal *w, int revents) {
        Manager *m = w->signum == SIGINT ? container_of(w, Manager, sig_int) : container_of(w, Manager, sig_term);

        if (m->stopping)
                return;
        if (w->signum == SIGTERM && notify_restart_queued()) {
                log_info("Received SIGTERM of a restart");
                manager_handover(m, 0);
                return;
        }
        log_info("Received %s, stopping", w->signum == SIGINT ? "SIGINT" : "SIGTERM");
        notify_stopping(&m->notify);
        /* in reverse: the workers answer what waits and destroy their servers; the loop ends when all are done */
        m->stopping = true;
        m->xs = xenxs_free(m->xs);
        ev_timer_start(loop, &m->stop_timeout);
        for (Guest *g = m->guests; g; g = g->next)
                guest_shutdown(g);
        manager_guest_quiet(NULL, m);
}

/* ---- life cycle ---- */

int manager_new(Manager **ret, struct ev_loop *loop, const char *config_path, Config *config) {
        Manager *m;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->loop = loop;
        m->config = config;
        if (config_path) {
                m->config_path = strdup(config_path);
                if (!m->config_path) {
                        free(m);
                        return -ENOMEM;
                }
        }
        m->procs.exe_fd = m->procs.devnull_fd = m->procs.slot_channel = m->procs.slot_log = -1;
        m->guest_events = (GuestEvents) {
                .changed = manager_guest_changed,
                .quiet = manager_guest_quiet,
                .userdata = m,
        };
        ev_timer_init(&m->stop_timeout, manager_stop_timeout_cb, MANAGER_STOP_TIMEOUT, 0.);
        ev_prepare_init(&m->retired, manager_retired_cb);
        ev_timer_init(&m->status_timer, manager_status_cb, MANAGER_STATUS_DELAY, 0.);
        ev_timer_init(&m->status_refresh, manager_status_refresh_cb, MANAGER_STATUS_REFRESH, MANAGER_STATUS_REFRESH);
        ev_signal_init(&m->sig_hup, manager_sighup_cb, SIGHUP);
        ev_signal_init(&m->sig_term, manager_sigterm_cb, SIGTERM);
        ev_signal_init(&m->sig_int, manager_sigterm_cb, SIGINT);
        ev_signal_init(&m->sig_usr2, manager_sigusr2_cb, SIGUSR2);
        *ret = m;
        return 0;
}

int manager_start(Manager *m, bool log_prefix) {
        bool restored = false;
        int r;

        (void) notify_setup(&m->notify, m->loop);

        /* the passed descriptors first: they move out of the low numbers the workers start from */
        r = manager_collect_passed_fds(m, &restored);
        if (r < 0)
                return r;

        /* the worker binary, held open: a package upgrade does not mix two versions */
        r = proc_config_open(&m->procs, m->worker_path, sizeof m->worker_path);
        if (r < 0)
                return log_error_errno(r, "Failed to open the worker program %s or /dev/null: %m", m->worker_path);
        m->procs.env = proc_env_new();
        if (!m->procs.env)
                return log_error_errno(ENOMEM, "Out of memory");
        m->procs.log_prefix = log_prefix;
        m->procs.verbose = m->verbose;
        r = manager_worker_ids(m, m->config);
        if (r < 0)
                return r;
        log_debug("Workers: %s", m->worker_path);

        /* a guest whose socket cannot be created is left out (logged); the others are served */
        for (size_t i = 0; i < m->config->n_guests; i++) {
                const GuestConfig *gc = m->config->guests[i];

                (void) manager_add_guest(m, gc, restored ? manager_guest_record(m, gc->name) : STORE_NONE);
        }
        if (restored)
                manager_restore(m);
        store_release_untaken(m->store);

        r = control_new(&m->control, m->loop, m, m->config->control_socket, m->config->control_max_connections,
                        manager_take_listen_fd(m, m->config->control_socket));
        /* xen-ioreqctl cannot reach this daemon then; the guests are served all the same */
        if (r < 0)
                log_error_errno(r, "Failed to listen on the control socket %s, xen-ioreqctl will not work: %m",
                                m->config->control_socket);

        r = xenxs_new(&m->xs, m->loop, manager_xs_changed, m);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to xenstore: %m");
        r = xenxs_refresh(m->xs);
        if (r < 0)
                return log_error_errno(r, "Failed to list the domains in xenstore: %m");
        if (restored)
                manager_resume(m);

        ev_timer_start(m->loop, &m->status_refresh);
        ev_signal_start(m->loop, &m->sig_hup);
        ev_signal_start(m->loop, &m->sig_term);
        ev_signal_start(m->loop, &m->sig_int);
        ev_signal_start(m->loop, &m->sig_usr2);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        ev_signal_stop(m->loop, &m->sig_hup);
        ev_signal_stop(m->loop, &m->sig_term);
        ev_signal_stop(m->loop, &m->sig_int);
        ev_signal_stop(m->loop, &m->sig_usr2);
        ev_timer_stop(m->loop, &m->status_timer);
        ev_timer_stop(m->loop, &m->status_refresh);
        ev_timer_stop(m->loop, &m->stop_timeout);
        m->xs = xenxs_free(m->xs);
        m->control = control_free(m->control);
        /* each guest closes its clients and its socket; a worker still there dies, its server left in place */
        while (m->guests)
                manager_remove_guest(m, m->guests);
        ev_prepare_stop(m->loop, &m->retired);
        while (m->retiring) {
                Guest *g = m->retiring;

                m->retiring = g->next;
                guest_free(g);
        }
        /* the clients' last callbacks and the workers' ends: nothing blocks, nothing is left behind */
        ev_run(m->loop, EVRUN_NOWAIT);
        /* a stop: nothing is kept for a next start (a handover has frozen it instead) */
        if (m->store)
                store_clear(m->store);
        m->store = store_free(m->store);
        notify_done(&m->notify);
        proc_config_close(&m->procs);
        proc_env_free(m->procs.env);

        for (size_t i = 0; i < m->n_listen; i++) {
                if (!m->listen_used[i])
                        close(m->listen_fds[i]);
                free(m->listen_paths[i]);
        }
        free(m->listen_fds);
        free(m->listen_paths);
        free(m->listen_used);
        config_free(m->config);
        free(m->config_path);
        free(m);
        return NULL;
}
