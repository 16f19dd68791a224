"""A foreign ONVIF client for the interoperability tests: WSDiscovery (PyPI), the WS-Discovery
client Home Assistant uses, and onvif-zeep-async (PyPI), the ONVIF library behind Home
Assistant's ONVIF integration, pointed at Pinhole's own ONVIF face.

    onvif_client.py probe [--scope S] [--types] [--timeout SECS]
        Multicast Probe (from every interface address, as the library does); prints a JSON list
        of {"epr", "xaddrs", "scopes"}.
    onvif_client.py run HOST PORT USER PASSWORD
        Reads a JSON list of steps on stdin, each {"service": "devicemgmt"|"media"|"ptz",
        "op": NAME, "params": {...}} or {"sleep": SECS} or {"snapshot": PROFILE} or
        {"events": {"want": [[TOPIC, SOURCE, VALUE], ...], "timeout": SECS}} or
        {"media2": NAME, "params": {...}} or {"notify": {"want": ..., "timeout": SECS}};
        connects as
        Home Assistant does (update_xaddrs, then each service from the addresses the device
        gave) and prints one JSON list with, per step, {"ok": answer} or {"fault": message,
        "auth": whether the library calls it an authentication error} or {"error": ...}.

        An events step takes events as Home Assistant's ONVIF integration does: a pull-point
        manager (CreatePullPointSubscription), a synchronization point, then PullMessages (up
        to 100 messages, waiting up to a minute) until every wanted (topic, source, value) has
        come or the timeout passed; then it renews the subscription, unsubscribes, and pulls
        once more from the ended subscription. Its answer: {"messages": [{"topic", "op",
        "source", "data"}], "renewed": bool, "after_end": "ok" or the fault}.

        A notify step takes the same events as Home Assistant's webhooks do: an HTTP server of
        its own on 127.0.0.1, a notification manager (Subscribe with that address), a
        synchronization point, each Notify read by the manager; then renew and unsubscribe.
        Its answer: {"messages": [...], "renewed": bool}.

        A media2 step calls Media2 (ver20) at the address GetServices gave, through the
        library's own service class (its transport and WS-Security) with ONVIF's Media2 WSDL
        from the onvif-wsdl tree beside the environment (scripts/fetch-interop-peers).
"""
import argparse
import asyncio
import base64
import datetime
import json
import os
import sys


def probe(args):
    from wsdiscovery import QName, Scope
    from wsdiscovery.discovery import ThreadedWSDiscovery

    wsd = ThreadedWSDiscovery(ttl=1)
    wsd.start()
    try:
        kwargs = {"timeout": args.timeout}
        if args.types:
            kwargs["types"] = [
                QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
            ]
        if args.scope:
            kwargs["scopes"] = [Scope(args.scope)]
        found = [
            {
                "epr": s.getEPR(),
                "xaddrs": list(s.getXAddrs()),
                "scopes": [sc.getValue() for sc in s.getScopes()],
            }
            for s in wsd.searchServices(**kwargs)
        ]
    finally:
        wsd.stop()
    print(json.dumps(found))


def plain(value):
    """A zeep answer as JSON-able data."""
    from zeep.helpers import serialize_object

    def conv(v):
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items() if not k.startswith("_")}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, (datetime.datetime, datetime.timedelta)):
            return str(v)
        if isinstance(v, bytes):
            return base64.b64encode(v).decode()
        return v

    return conv(serialize_object(value))


async def events(cam, e):
    """Home Assistant's way with a device's events (homeassistant/components/onvif/event.py)."""
    from zeep.exceptions import Fault

    loop = asyncio.get_running_loop()
    manager = await cam.create_pullpoint_manager(
        datetime.timedelta(seconds=e.get("interval", 600)), lambda: None
    )
    pullpoint = manager.get_service()
    await manager.set_synchronization_point()
    want = e["want"]
    seen = []
    deadline = loop.time() + e.get("timeout", 60)
    while loop.time() < deadline:
        answer = await pullpoint.PullMessages(
            {"MessageLimit": 100, "Timeout": datetime.timedelta(seconds=60)}
        )
        for msg in answer.NotificationMessage or []:
            seen.append(message(msg))
        if complete(seen, want):
            break
    renewed = await manager._renew_subscription() is not None
    await manager.shutdown()
    try:
        await pullpoint.PullMessages({"MessageLimit": 1, "Timeout": datetime.timedelta(seconds=1)})
        after_end = "ok"
    except Fault as err:
        after_end = err.message
    return {"messages": seen, "renewed": renewed, "after_end": after_end}


def message(msg):
    payload = msg.Message._value_1
    return {
        "topic": msg.Topic._value_1,
        "op": payload.PropertyOperation,
        "source": {i.Name: i.Value for i in payload.Source.SimpleItem},
        "data": {i.Name: i.Value for i in payload.Data.SimpleItem},
    }


def complete(seen, want):
    got = {(m["topic"], v, d) for m in seen for v in m["source"].values() for d in m["data"].values()}
    return all(tuple(w) in got for w in want)


async def notifications(cam, e):
    """Home Assistant's webhook way (homeassistant/components/onvif/event.py)."""
    from aiohttp import web

    seen, box = [], {}

    async def notify(request):
        result = box["manager"].process(await request.read())
        for msg in (result.NotificationMessage if result else None) or []:
            seen.append(message(msg))
        return web.Response()

    app = web.Application()
    app.router.add_post("/api/webhook/onvif", notify)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        box["manager"] = await cam.create_notification_manager(
            f"http://127.0.0.1:{port}/api/webhook/onvif",
            datetime.timedelta(seconds=e.get("interval", 600)),
            lambda: None,
        )
        await box["manager"].set_synchronization_point()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + e.get("timeout", 60)
        while loop.time() < deadline and not complete(seen, e["want"]):
            await asyncio.sleep(0.2)
        renewed = await box["manager"]._renew_subscription() is not None
        await box["manager"].shutdown()
    finally:
        await runner.cleanup()
    return {"messages": seen, "renewed": renewed}


MEDIA2 = "http://www.onvif.org/ver20/media/wsdl"


async def media2_service(cam):
    from onvif.client import ONVIFService

    assets = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(sys.executable))))
    wsdl = os.path.join(assets, "onvif-wsdl", "ver20", "media", "wsdl", "media.wsdl")
    xaddr = cam.xaddrs.get(MEDIA2)
    if not xaddr:
        raise RuntimeError(f"the device lists no Media2 service: {sorted(cam.xaddrs)}")
    service = ONVIFService(
        xaddr, cam.user, cam.passwd, wsdl, dt_diff=cam.dt_diff,
        binding_name=f"{{{MEDIA2}}}Media2Binding",
    )
    await service.setup()
    return service


async def set_encoder(service, spec, media2):
    """What a recorder does to change a camera's encoder: read the configuration, change some
    fields, send it back whole."""
    token = spec["token"]
    if media2:
        found = await service.GetVideoEncoderConfigurations({"ConfigurationToken": token})
        config = found[0]
    else:
        config = await service.GetVideoEncoderConfiguration({"ConfigurationToken": token})
    change = spec["changes"]
    if "width" in change:
        config.Resolution.Width = change["width"]
        config.Resolution.Height = change["height"]
    if "fps" in change:
        config.RateControl.FrameRateLimit = change["fps"]
    if "bitrate" in change:
        config.RateControl.BitrateLimit = change["bitrate"]
    if "gov" in change:
        if media2:
            config.GovLength = change["gov"]
        else:
            config.H264.GovLength = change["gov"]
    if "encoding" in change:
        config.Encoding = change["encoding"]
    request = {"Configuration": config}
    if not media2:
        request["ForcePersistence"] = True
    await service.SetVideoEncoderConfiguration(request)
    return token


async def run(args):
    import onvif
    from onvif import ONVIFCamera
    from onvif.util import is_auth_error
    from zeep.exceptions import Fault

    steps = json.load(sys.stdin)
    wsdl = os.path.join(os.path.dirname(onvif.__file__), "wsdl")
    cam = ONVIFCamera(args.host, int(args.port), args.user, args.password, wsdl)
    results = []
    try:
        try:
            await cam.update_xaddrs()
        except Fault as err:
            results.append({"fault": err.message, "auth": bool(is_auth_error(err))})
            print(json.dumps(results))
            return
        services = {}
        for step in steps:
            try:
                if "sleep" in step:
                    await asyncio.sleep(step["sleep"])
                    results.append({"ok": None})
                    continue
                if "events" in step:
                    results.append({"ok": await events(cam, step["events"])})
                    continue
                if "notify" in step:
                    results.append({"ok": await notifications(cam, step["notify"])})
                    continue
                if "snapshot" in step:
                    jpeg = await cam.get_snapshot(step["snapshot"])
                    results.append({"ok": {"bytes": len(jpeg or b""), "jpeg": (jpeg or b"")[:2] == b"\xff\xd8"}})
                    continue
                if "set_encoder" in step:
                    spec = step["set_encoder"]
                    media2 = bool(spec.get("media2"))
                    key = "media2" if media2 else "media"
                    if key not in services:
                        services[key] = await (media2_service(cam) if media2 else cam.create_media_service())
                    results.append({"ok": await set_encoder(services[key], spec, media2)})
                    continue
                if "set_metadata" in step:
                    # A recorder's way: read the configuration, send it back whole.
                    if "media" not in services:
                        services["media"] = await cam.create_media_service()
                    token = step["set_metadata"]
                    config = await services["media"].GetMetadataConfiguration({"ConfigurationToken": token})
                    await services["media"].SetMetadataConfiguration({"Configuration": config, "ForcePersistence": True})
                    results.append({"ok": token})
                    continue
                if "media2" in step:
                    if "media2" not in services:
                        services["media2"] = await media2_service(cam)
                    answer = await getattr(services["media2"], step["media2"])(step.get("params") or {})
                    results.append({"ok": plain(answer)})
                    continue
                name = step["service"]
                if name not in services:
                    services[name] = await getattr(cam, f"create_{name}_service")()
                answer = await getattr(services[name], step["op"])(step.get("params") or {})
                results.append({"ok": plain(answer)})
            except Fault as err:
                results.append({"fault": err.message, "auth": bool(is_auth_error(err))})
            except Exception as err:  # what a client would show its user
                results.append({"error": f"{type(err).__name__}: {err}"})
    finally:
        if "media2" in services:
            await services["media2"].close()
        await cam.close()
    print(json.dumps(results))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("--scope")
    p.add_argument("--types", action="store_true")
    p.add_argument("--timeout", type=float, default=3)
    r = sub.add_parser("run")
    for a in ("host", "port", "user", "password"):
        r.add_argument(a)
    args = ap.parse_args()
    if args.cmd == "probe":
        probe(args)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
