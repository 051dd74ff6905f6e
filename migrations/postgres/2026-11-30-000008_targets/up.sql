-- The plan's annual targets per city (seed plan 附件1).
CREATE TABLE targets (
    training_year INTEGER NOT NULL,
    city_code TEXT NOT NULL,
    name TEXT NOT NULL,
    trainees BIGINT NOT NULL,
    certificates BIGINT NOT NULL,
    PRIMARY KEY (training_year, city_code)
);
