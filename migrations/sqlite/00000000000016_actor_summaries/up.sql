-- What each process last reported of its actors (JSON: the count of each kind, its
-- components, and every actor that was restarted or failed), so that any API process shows
-- every process's supervision state.
ALTER TABLE services ADD COLUMN actors TEXT;
