DROP INDEX objects_by_hash;
