-- Records now carry the structure of their geographic conditions, their stated conditions, expense
-- ceilings and amounts that vary (migrations 0011–0015), and Mes Aides Réno's sub-aids are records of
-- their own: records parsed by the former adapters lack them. Forgetting which payload each source's
-- records came from makes the next run parse every source again, from its last snapshot when it cannot
-- be reached (sources/ingest.py), so that no source keeps records of the former shape.

UPDATE source_state SET digest = digest || '+analyse-a-refaire';
