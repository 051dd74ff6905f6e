-- A course's level and class hours are fixed once it has a completion. That used to be asked of
-- an index of completions by course, which served nothing else and cost every completion: with
-- an insertion point per course, a group dirtied a page of it for nearly every course it named.
-- The course now says so itself: the ledger writer sets `frozen` in the group that stores the
-- course's first completion (`gateway check` names a course with completions that is not).
ALTER TABLE courses ADD COLUMN frozen BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE courses SET frozen = TRUE
    WHERE EXISTS (SELECT 1 FROM completions WHERE course_id = courses.id);
DROP INDEX completions_by_course;
