-- 0004_reserved_metrics.sql — a placeholder, so that this branch's 0005 applies in order.
-- Migration 0004 belongs to branch metrics: DELETE THIS FILE when that branch's 0004 lands.
SELECT 1;
