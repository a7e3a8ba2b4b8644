-- Placeholder on branch train only: migration 0003 belongs to another branch, and
-- fitd wants migrations numbered 1..n without gaps. DELETE THIS FILE when merging
-- (the real 0003 takes its number).
SELECT 1;
