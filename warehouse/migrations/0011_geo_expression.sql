-- The structure of a source's geographic conditions (sources/geo_expression.py): a boolean
-- expression over places, null when the source only lists places.

ALTER TABLE source_records ADD COLUMN geo_expression JSON;
