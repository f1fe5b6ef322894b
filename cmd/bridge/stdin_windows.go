package main

import "os"

// agentInput is stdin: Windows pipes are read as they are.
func agentInput() *os.File { return os.Stdin }

// ignoreBrokenPipe has nothing to do: Windows has no SIGPIPE.
func ignoreBrokenPipe() {}
