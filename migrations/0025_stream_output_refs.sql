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
