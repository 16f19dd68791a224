"""Baseline for benches/ws_rpc.rs: the seeds' stack (FastAPI on uvicorn) answering JSON-RPC
`ping` over WebSocket, as the camera service does. Run: python fastapi_ws.py PORT
"""
import json
import sys

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.websocket("/ws")
async def ws(socket: WebSocket):
    await socket.accept()
    try:
        while True:
            text = await socket.receive_text()
            try:
                req = json.loads(text)
            except ValueError:
                await socket.send_text(json.dumps({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}))
                continue
            if req.get("method") == "ping":
                reply = {"jsonrpc": "2.0", "result": "pong", "id": req.get("id")}
            else:
                reply = {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": req.get("id")}
            if "id" in req:
                await socket.send_text(json.dumps(reply))
    except WebSocketDisconnect:
        pass


if __name__ == "__main__":
    print(f"listening on 127.0.0.1:{sys.argv[1]}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", ws="websockets")
