-- Metrics by Keras's names beyond loss and accuracy (issue 12): per epoch,
-- and the last epoch's on the job, as a JSON object such as
-- {"precision": 0.91, "val_precision": 0.88, "auc": null}. NULL when the
-- model asked for none.
ALTER TABLE job_epochs ADD COLUMN metrics TEXT;
ALTER TABLE jobs ADD COLUMN metrics TEXT;
