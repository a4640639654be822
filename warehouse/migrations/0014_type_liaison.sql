-- How the COG links a département's or a région's name to what precedes it ("de la Charente-Maritime",
-- "du Doubs", "de l'Essonne"): the referential's typeLiaison (TNCC), to name collectivités as porteurs.
-- The referential is loaded again by the next run (its version is forgotten) to fill the new columns.

ALTER TABLE ref_regions ADD COLUMN type_liaison INTEGER;
ALTER TABLE ref_departements ADD COLUMN type_liaison INTEGER;
DELETE FROM ref_version;
