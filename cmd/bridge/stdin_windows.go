package main

import "os"

// agentInput is stdin: Windows pipes are read as they are.
func agentInput() *os.File { return os.Stdin }
