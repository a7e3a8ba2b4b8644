-- The BLAS kernel sets a job ran on (comma-separated, each once, in order):
-- weights_sha256 is reproducible on the same kernel set, so a user can see
-- why two machines' results differ.
ALTER TABLE jobs ADD COLUMN kernels TEXT;
