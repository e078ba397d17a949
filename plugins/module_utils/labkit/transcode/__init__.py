"""Frame-exact split / parallel transcode / join of one video (DESIGN §6).

The steps, one module each (each reads and writes the run's work folder):
prepare  -- validate, probe, plan                         -> plan.json
split    -- copy-split the video stream into chunks
segments -- the audio once (audio) + the segment batch on the backend -> manifest
finish   -- join, mux, verify, place; the report's run, context and extra blocks
baseline -- one plain ffmpeg over the whole file, timed

and what they share:
planfile -- the typed plan (TranscodePlan) and plan.json; StepError
probe    -- ffprobe JSON -> streams, frame timestamps, keyframes
plan     -- segment boundaries at keyframes, chunk packet ranges, names, order
manifest -- verified segments on disk, for resume
verify   -- output-against-source rules
commands -- ffmpeg/ffprobe argument lists (never a shell string)
params   -- validation of the user's -e parameters
"""
