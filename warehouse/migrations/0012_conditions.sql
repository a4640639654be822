-- Eligibility conditions as each source states them (sources/record.py, ``conditions``).

ALTER TABLE source_records ADD COLUMN conditions VARCHAR[];
