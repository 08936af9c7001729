-- What routing decided for a contact at arrival, so that live state can be rebuilt from the
-- record: its priority, the skills it requires, its language.
ALTER TABLE contacts ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN required_skills text[] NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN language text;
