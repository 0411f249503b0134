-- +goose Up
-- Week first, as in PostgreSQL: purge, verify and the writer's week filter
-- scan whole weeks through the primary key, so the separate index on week
-- goes, and with it one random B-tree insert per person per sale.
CREATE TABLE person_weeks_by_week (
    person            TEXT NOT NULL,
    week              TEXT NOT NULL,
    quantity          INTEGER NOT NULL,
    purchases         INTEGER NOT NULL,
    weekday_purchases INTEGER NOT NULL,
    weekend_purchases INTEGER NOT NULL,
    PRIMARY KEY (week, person)
) WITHOUT ROWID;
INSERT INTO person_weeks_by_week SELECT person, week, quantity, purchases, weekday_purchases, weekend_purchases FROM person_weeks;
DROP TABLE person_weeks;
ALTER TABLE person_weeks_by_week RENAME TO person_weeks;

-- +goose Down
CREATE TABLE person_weeks_by_person (
    person            TEXT NOT NULL,
    week              TEXT NOT NULL,
    quantity          INTEGER NOT NULL,
    purchases         INTEGER NOT NULL,
    weekday_purchases INTEGER NOT NULL,
    weekend_purchases INTEGER NOT NULL,
    PRIMARY KEY (person, week)
) WITHOUT ROWID;
INSERT INTO person_weeks_by_person SELECT person, week, quantity, purchases, weekday_purchases, weekend_purchases FROM person_weeks;
DROP TABLE person_weeks;
ALTER TABLE person_weeks_by_person RENAME TO person_weeks;
CREATE INDEX person_weeks_week ON person_weeks (week);
