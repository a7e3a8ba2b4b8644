/*
 * heartbeat.h — the node's heartbeat thread (issue 15). Every interval it
 * records the node's heartbeat and renews the leases of the jobs this node
 * runs (db_node_heartbeat), and carries to them the cancels other nodes
 * received. On PostgreSQL, once the leases could not be renewed for a
 * lease's length, it stops the node's running jobs: another node may claim
 * them now, and no two nodes may train one job.
 */
#ifndef FITD_HEARTBEAT_H
#define FITD_HEARTBEAT_H

#include "server/jobs/jobq.h"

struct heartbeat;

/* Starts the thread (a first heartbeat is recorded before it returns, so
 * GET /v1/nodes lists the node at once). NULL when the thread cannot start. */
struct heartbeat *heartbeat_start(struct jobq *q, unsigned workers, unsigned interval_ms);
/* Stops the thread and marks the node stopped; NULL is a no-op. Call after
 * the workers gave their jobs back. */
void heartbeat_stop(struct heartbeat *hb);

#endif
