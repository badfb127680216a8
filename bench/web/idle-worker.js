// The second worker of the bench's `bare-pair` start-up: it starts and loads nothing more.
