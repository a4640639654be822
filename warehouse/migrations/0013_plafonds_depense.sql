-- Ceilings of the funded expense as each source states them (sources/record.py, ``plafonds_depense``).

ALTER TABLE source_records ADD COLUMN plafonds_depense VARCHAR[];
