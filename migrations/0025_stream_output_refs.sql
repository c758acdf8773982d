-- The vendor's handle of each output job of a live stream (an Agora converter id), so that a
-- vendor notification naming only that handle finds its stream, output and project.
CREATE TABLE stream_output_refs (
    vendor     TEXT NOT NULL,
    vendor_ref TEXT NOT NULL,
    project_id TEXT NOT NULL,
    stream_id  TEXT NOT NULL,
    output     TEXT NOT NULL,
    PRIMARY KEY (vendor, vendor_ref)
);

-- How many times a stream's state was saved: a vendor notification is folded into the state it
-- read and saved only if nothing else saved the stream since (two notices about two outputs of
-- one stream, handled at once by two isolates, must not lose one output's news).
ALTER TABLE streams ADD COLUMN state_version INTEGER NOT NULL DEFAULT 0;
