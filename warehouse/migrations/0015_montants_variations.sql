-- Amounts that depend on a condition, as each source states them (sources/record.py,
-- ``montants_variations``): "400 € si vélo . cargo électrique", "300 € sinon".

ALTER TABLE source_records ADD COLUMN montants_variations VARCHAR[];
