-- The record's fields take the published schema's names where they mean the same thing
-- (sources/record.py): url_information → url_source, publics → cibles,
-- types_aide → types_aides, programmes → programmes_parents.

ALTER TABLE source_records RENAME COLUMN url_information TO url_source;
ALTER TABLE source_records RENAME COLUMN publics TO cibles;
ALTER TABLE source_records RENAME COLUMN types_aide TO types_aides;
ALTER TABLE source_records RENAME COLUMN programmes TO programmes_parents;
