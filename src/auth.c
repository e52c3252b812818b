/*
 * auth.c: the password worker pool. Argon2id hashing and verifying take
 * tens of milliseconds and many megabytes each, so they never run on the
 * event loop: auth_threads threads take jobs from one bounded queue
 * (auth_queue; a full queue refuses the job, and the caller says
 * RATELIMITED), and hand results back to the loop thread through a pipe,
 * the way the journal writer does. The done callback runs on the loop
 * thread, in completion order. A verify against no hash uses a dummy hash
 * with the same cost (made by the first worker that needs one), so an
 * unknown name takes as long as a wrong password.
 *
 * Threads: the loop thread submits and runs callbacks; the workers touch
 * only a job's own copies (password, hash) and the queues under auth_lock.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "wschatd.h"

#define AUTH_NICE	10	/* the workers' niceness: the loop comes first */

enum auth_op { AUTH_HASH, AUTH_VERIFY };

struct auth_job {
	enum auth_op	 j_op;
	char		*j_password;	/* a copy, wiped when done */
	size_t		 j_len;
	char		*j_hash;	/* verify: against this; hash: the result */
	int		 j_result;	/* AUTH_OK, AUTH_FAILED */
	auth_done_cb	 j_done;
	void		*j_arg;
	TAILQ_ENTRY(auth_job) j_entry;
};
TAILQ_HEAD(auth_jobs, auth_job);

static pthread_mutex_t	 auth_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 auth_cond = PTHREAD_COND_INITIALIZER;
static struct auth_jobs	 auth_queue = TAILQ_HEAD_INITIALIZER(auth_queue);
static struct auth_jobs	 auth_results = TAILQ_HEAD_INITIALIZER(auth_results);
static size_t		 auth_queued;	/* submitted, not yet delivered */
static int		 auth_stopping;
static pthread_t	*auth_threads;
static size_t		 auth_nthreads;
static int		 auth_pipe[2] = { -1, -1 };
static struct event	*auth_ev;
static char		 auth_dummy[crypto_pwhash_STRBYTES];
static pthread_once_t	 auth_dummy_once = PTHREAD_ONCE_INIT;

/* Hash one password with the configured cost; -1 if out of memory. */
static int
auth_pwhash(char *out, const char *pw, size_t len)
{
	return (crypto_pwhash_str(out, pw, len,
	    (unsigned long long)config.pwhash_opslimit,
	    (size_t)config.pwhash_memlimit));
}

/*
 * The dummy hash, made by the first worker that needs it (not at start:
 * Argon2id at full cost would hold the start-up back, under valgrind for
 * many seconds). A random password nobody knows, at the configured cost.
 */
static void
auth_make_dummy(void)
{
	unsigned char	pw[16];

	randombytes_buf(pw, sizeof pw);
	if (auth_pwhash(auth_dummy, (const char *)pw, sizeof pw) != 0)
		auth_dummy[0] = '\0';		/* verify then fails, as it must */
	sodium_memzero(pw, sizeof pw);
}

/* Worker: run one job. */
static void
auth_run(struct auth_job *j)
{
	char	out[crypto_pwhash_STRBYTES];

	if (j->j_op == AUTH_HASH) {
		if (auth_pwhash(out, j->j_password, j->j_len) == 0) {
			j->j_hash = xstrdup(out);
			j->j_result = AUTH_OK;
		} else
			j->j_result = AUTH_FAILED;
		sodium_memzero(out, sizeof out);
	} else {
		pthread_once(&auth_dummy_once, auth_make_dummy);
		j->j_result = crypto_pwhash_str_verify(j->j_hash != NULL ?
		    j->j_hash : auth_dummy, j->j_password, j->j_len) == 0 &&
		    j->j_hash != NULL ? AUTH_OK : AUTH_FAILED;
	}
	sodium_memzero(j->j_password, j->j_len);
}

/* Wake the loop thread. */
static void
auth_notify(void)
{
	char	c = 0;

	while (write(auth_pipe[1], &c, 1) == -1 && errno == EINTR)
		continue;
}

/*
 * A worker thread: jobs until told to stop. It runs at a lower priority
 * (nice AUTH_NICE, per thread, as Linux allows), so that the event loop
 * thread, when it shares a core with a hashing worker, gets most of it
 * and a burst of logins barely moves fan-out latency; the hashing still
 * gets the cores the loop leaves (docs/BENCHMARKS.md, "Logins during a
 * fan-out"). A kernel that refuses leaves the worker as it is.
 */
static void *
auth_worker(void *arg)
{
	struct auth_job		*j;

	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	    AUTH_NICE);
	pthread_mutex_lock(&auth_lock);
	for (;;) {
		while (TAILQ_EMPTY(&auth_queue) && !auth_stopping)
			pthread_cond_wait(&auth_cond, &auth_lock);
		if ((j = TAILQ_FIRST(&auth_queue)) == NULL)
			break;
		TAILQ_REMOVE(&auth_queue, j, j_entry);
		pthread_mutex_unlock(&auth_lock);
		auth_run(j);
		pthread_mutex_lock(&auth_lock);
		TAILQ_INSERT_TAIL(&auth_results, j, j_entry);
		auth_notify();
	}
	pthread_mutex_unlock(&auth_lock);
	return (NULL);
}

/* Free a job, wiping its secrets. */
static void
auth_free(struct auth_job *j)
{
	sodium_memzero(j->j_password, j->j_len);
	free(j->j_password);
	free(j->j_hash);
	free(j);
}

/* Loop thread: run the callbacks of finished jobs. */
static void
auth_deliver(void)
{
	struct auth_job	*j;

	for (;;) {
		pthread_mutex_lock(&auth_lock);
		if ((j = TAILQ_FIRST(&auth_results)) != NULL) {
			TAILQ_REMOVE(&auth_results, j, j_entry);
			auth_queued--;
		}
		pthread_mutex_unlock(&auth_lock);
		if (j == NULL)
			break;
		j->j_done(j->j_result, j->j_op == AUTH_HASH ? j->j_hash : NULL,
		    j->j_arg);
		auth_free(j);
	}
}

/* Loop thread: a worker finished something. */
static void
auth_wakeup(evutil_socket_t fd, short what, void *arg)
{
	char	buf[64];

	while (read(fd, buf, sizeof buf) > 0)
		continue;
	auth_deliver();
}

/* Start the workers and make the dummy hash. */
int
auth_init(struct event_base *base, char **cause)
{
	sigset_t	 all, old;
	size_t		 i;
	int		 fl;

	if (sodium_init() < 0) {
		*cause = xstrdup("libsodium cannot start");
		return (-1);
	}
	if (pipe(auth_pipe) != 0)
		fatal("%s: pipe", __func__);
	for (i = 0; i < 2; i++) {
		fl = fcntl(auth_pipe[i], F_GETFL);
		fcntl(auth_pipe[i], F_SETFL, fl | O_NONBLOCK);
		fcntl(auth_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	auth_ev = event_new(base, auth_pipe[0], EV_READ | EV_PERSIST,
	    auth_wakeup, NULL);
	if (auth_ev == NULL || event_add(auth_ev, NULL) != 0)
		fatalx("%s: event_new", __func__);

	/* Workers take no signals: the loop thread handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	auth_nthreads = (size_t)config.auth_threads;
	auth_threads = xcalloc(auth_nthreads, sizeof *auth_threads);
	for (i = 0; i < auth_nthreads; i++) {
		if (pthread_create(&auth_threads[i], NULL, auth_worker,
		    NULL) != 0)
			fatalx("%s: pthread_create", __func__);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (0);
}

/* Stop the workers; jobs not started are answered AUTH_CANCELLED. */
void
auth_shutdown(void)
{
	struct auth_job	*j;
	size_t		 i;

	if (auth_threads == NULL)
		return;
	pthread_mutex_lock(&auth_lock);
	auth_stopping = 1;
	while ((j = TAILQ_FIRST(&auth_queue)) != NULL) {
		TAILQ_REMOVE(&auth_queue, j, j_entry);
		j->j_result = AUTH_CANCELLED;
		TAILQ_INSERT_TAIL(&auth_results, j, j_entry);
	}
	pthread_cond_broadcast(&auth_cond);
	pthread_mutex_unlock(&auth_lock);
	for (i = 0; i < auth_nthreads; i++)
		pthread_join(auth_threads[i], NULL);
	free(auth_threads);
	auth_threads = NULL;
	auth_deliver();
	event_free(auth_ev);
	auth_ev = NULL;
	close(auth_pipe[0]);
	close(auth_pipe[1]);
	auth_pipe[0] = auth_pipe[1] = -1;
	auth_stopping = 0;
}

/* Queue a job; -1 if the queue is full (nothing is kept then). */
static int
auth_submit(enum auth_op op, const char *pw, const char *hash,
    auth_done_cb done, void *arg)
{
	struct auth_job	*j;

	pthread_mutex_lock(&auth_lock);
	if (auth_threads == NULL ||
	    auth_queued >= (size_t)config.auth_queue) {
		pthread_mutex_unlock(&auth_lock);
		return (-1);
	}
	auth_queued++;
	pthread_mutex_unlock(&auth_lock);

	j = xcalloc(1, sizeof *j);
	j->j_op = op;
	j->j_len = strlen(pw);
	j->j_password = xstrdup(pw);
	j->j_hash = hash != NULL ? xstrdup(hash) : NULL;
	j->j_done = done;
	j->j_arg = arg;
	pthread_mutex_lock(&auth_lock);
	TAILQ_INSERT_TAIL(&auth_queue, j, j_entry);
	pthread_cond_signal(&auth_cond);
	pthread_mutex_unlock(&auth_lock);
	return (0);
}

/* Hash a password; done gets the Argon2id string. */
int
auth_hash(const char *pw, auth_done_cb done, void *arg)
{
	return (auth_submit(AUTH_HASH, pw, NULL, done, arg));
}

/* Verify a password against hash (NULL: the dummy; always AUTH_FAILED). */
int
auth_verify(const char *hash, const char *pw, auth_done_cb done, void *arg)
{
	return (auth_submit(AUTH_VERIFY, pw, hash, done, arg));
}
