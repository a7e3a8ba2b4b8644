-- What a CSV upload learned of its columns (issue 12): names, kinds and
-- statistics as the JSON array GET /v1/datasets/{id} shows (NULL for JSON
-- uploads and datasets stored before), the label's class names when it held
-- text (a JSON array, class i's name at index i; NULL otherwise), and the
-- counts that tell a trainer whether preprocessing is needed.
ALTER TABLE datasets ADD COLUMN columns TEXT;
ALTER TABLE datasets ADD COLUMN class_names TEXT;
ALTER TABLE datasets ADD COLUMN n_categorical INTEGER NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN n_missing INTEGER NOT NULL DEFAULT 0;
-- The class names a model learned from the first text-label dataset it was
-- trained on (a JSON array; NULL while it has none): predict answers with them.
ALTER TABLE models ADD COLUMN class_names TEXT;
-- The feature column names of the first CSV dataset a job was submitted for
-- (a JSON array in input order; NULL while none): predict takes rows by name.
ALTER TABLE models ADD COLUMN feature_names TEXT;
-- The input width a model needs for a dataset once its categorical columns
-- are one-hot encoded (0: the same as n_features), and the preprocessing a
-- model learned from the first such dataset it trained on (JSON, as
-- GET /v1/models/{id} shows it; NULL when none).
ALTER TABLE datasets ADD COLUMN encoded_width INTEGER NOT NULL DEFAULT 0;
ALTER TABLE models ADD COLUMN preprocessing TEXT;
