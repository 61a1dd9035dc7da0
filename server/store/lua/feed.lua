-- ARGV: job summary json.
return feed_event(ARGV[1])
