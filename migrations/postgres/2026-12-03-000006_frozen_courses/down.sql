CREATE INDEX completions_by_course ON completions (course_id);
ALTER TABLE courses DROP COLUMN frozen;
