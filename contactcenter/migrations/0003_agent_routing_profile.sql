-- What routing needs to know of an agent beyond skills: the languages they speak, their
-- capacity per channel (overriding the defaults), and whether a voice call blocks new text
-- contacts while it lasts.
ALTER TABLE agents ADD COLUMN languages text[] NOT NULL DEFAULT '{}';
ALTER TABLE agents ADD COLUMN capacity jsonb NOT NULL DEFAULT '{}';
ALTER TABLE agents ADD COLUMN voice_blocks_chat boolean NOT NULL DEFAULT true;
