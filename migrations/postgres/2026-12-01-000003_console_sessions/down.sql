DROP INDEX learners_by_masked_id;
DROP TABLE console_links;
DROP TABLE console_sessions;
