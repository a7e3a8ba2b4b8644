-- Issue 14 (training controls): the learning rate the optimizer had at the end
-- of each epoch (learning-rate schedules, ReduceLROnPlateau). NULL for epochs
-- trained before this column existed.
ALTER TABLE job_epochs ADD COLUMN learning_rate REAL;
-- Early stopping (issue 14): the best epoch by its monitor (NULL: none yet or
-- no early stopping) and the epoch after which it stopped training (NULL: it
-- did not).
ALTER TABLE jobs ADD COLUMN best_epoch INTEGER;
ALTER TABLE jobs ADD COLUMN stopped_epoch INTEGER;
