-- 0003_reserved_csv.sql — a placeholder, so that this branch's 0005 applies in order.
-- Migration 0003 belongs to branch csv: DELETE THIS FILE when that branch's 0003 lands.
SELECT 1;
