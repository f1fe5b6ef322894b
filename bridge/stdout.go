package bridge

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// This file writes to the agent: every message through one buffered
// writer under one lock, as one line, flushed by the last of the messages
// waiting to be written.

// write sends one message as one line.
func (s *stdioServer) write(msg []byte) {
	s.lockWriter()
	defer s.wmu.Unlock()
	s.w.Write(msg)
	s.endLine()
}

// lockWriter takes the writer for one message, counted as queued while
// it waits.
func (s *stdioServer) lockWriter() {
	s.queued.Add(1)
	s.wmu.Lock()
	s.queued.Add(-1)
}

// endLine ends the message being written and sends what the buffer holds,
// unless another message is queued: the writer of the last one sends
// them all, so that with many calls in flight the answers that finish
// together cost one write to stdout, and none waits for more than the
// messages written before it. s.wmu is held.
func (s *stdioServer) endLine() {
	s.w.WriteByte('\n')
	if s.queued.Load() > 0 {
		return
	}
	if err := s.w.Flush(); err != nil {
		s.log.Debug("writing to the agent", "err", err)
		s.outLostOnce.Do(func() { close(s.outLost) })
	}
}

// writeResult writes a response whose result is raw JSON, compacted so that
// it stays one line, its content otherwise as the server sent it.
func (s *stdioServer) writeResult(id, result json.RawMessage) {
	if len(result) == 0 {
		result = json.RawMessage("{}")
	}
	result, err := rawjson.OneLine(result)
	if err != nil {
		s.writeError(id, codeInternal, "the server's result is not valid JSON", nil)
		return
	}
	// The parts go straight to the buffer, or past it to stdout for a
	// result larger than the buffer: no copy of the message is made.
	s.lockWriter()
	defer s.wmu.Unlock()
	s.w.WriteString(`{"jsonrpc":"2.0","id":`)
	s.w.Write(id)
	s.w.WriteString(`,"result":`)
	s.w.Write(result)
	s.w.WriteByte('}')
	s.endLine()
}

func (s *stdioServer) writeError(id json.RawMessage, code int, msg string, data json.RawMessage) {
	e := map[string]any{"code": code, "message": msg}
	if len(data) > 0 {
		e["data"] = data
	}
	out, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": e})
	s.write(out)
}

// writeCallError answers a forwarded request that failed: an upstream's
// JSON-RPC error keeps its code, message and data.
func (s *stdioServer) writeCallError(id json.RawMessage, err error) {
	var rpc *client.RPCError
	var re *routeError
	switch {
	case errors.As(err, &rpc):
		s.writeError(id, rpc.Code, rpc.Message, rpc.Data)
	case errors.As(err, &re):
		s.writeError(id, re.code, re.Error(), nil)
	default:
		s.writeError(id, codeInternal, err.Error(), nil)
	}
}

func (s *stdioServer) writeNotification(method string, params json.RawMessage) {
	var b bytes.Buffer
	b.WriteString(`{"jsonrpc":"2.0","method":`)
	m, _ := json.Marshal(method)
	b.Write(m)
	if len(params) > 0 {
		b.WriteString(`,"params":`)
		params, err := rawjson.OneLine(params)
		if err != nil {
			return
		}
		b.Write(params)
	}
	b.WriteByte('}')
	s.write(b.Bytes())
}
