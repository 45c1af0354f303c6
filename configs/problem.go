package configs

// ProblemAt is a problem with key found after loading (for example by a
// bridge that checks names against a cloud service at start), placed at
// the key's line in the file like the problems Validate finds.
func (c *Config) ProblemAt(key, msg string) Problem {
	p := c.place(key)
	p.Msg = msg
	return p
}
