-- The recordings are derived from the completions; restoring the copies is not needed to read
-- them, and an older gateway lists what its own trail holds.
SELECT 1;
