"""Frame-exact split / parallel transcode / join of one video (DESIGN §6).

probe    -- ffprobe JSON -> streams, frame timestamps, keyframes
plan     -- segment boundaries at keyframes, chunk packet ranges, names, order
manifest -- verified segments on disk, for resume
verify   -- output-against-source rules
commands -- ffmpeg/ffprobe argument lists (never a shell string)
pool     -- the local backend's segment pool (N slots, longest first, retries)
params   -- validation of the user's -e parameters
"""
