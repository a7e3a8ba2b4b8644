-- Placeholder on branch metrics only: migration 0003 belongs to another
-- branch, and fitd wants migrations numbered 1..n without gaps. When the
-- branches merge, delete this file (the real 0003 takes its number; fitd
-- refuses to start with two files numbered 0003, so it cannot be missed).
SELECT 1;
