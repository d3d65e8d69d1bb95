DROP TABLE git_objects;
