"""Writers for vcr's outputs: JSON, subtitles, MOT text and annotated MP4, all written atomically."""
