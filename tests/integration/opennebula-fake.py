#!/usr/bin/python3
"""A FAKE OpenNebula front-end: its XML-RPC API (OpenNebula 6.x), only the
methods rain's opennebula site driver calls, for tests. No OpenNebula runs
on rain's test machines (it is not in Debian); this checks each call
against the documented parameters (types and count) and the session, keeps
images and templates as OpenNebula would (an image is LOCKED while the
front-end downloads its PATH, then READY or ERROR), and writes what it has
to STATE_FILE after every change, for the test to look at.

    opennebula-fake.py PORT_FILE STATE_FILE DATASTORE_DIR USER:PASSWORD
"""
import json
import os
import re
import sys
import threading
import urllib.request
from xmlrpc.server import SimpleXMLRPCServer, SimpleXMLRPCRequestHandler
from xml.sax.saxutils import escape

AUTHENTICATION, AUTHORIZATION, NO_EXISTS, ACTION, XML_RPC_API = 0x100, 0x200, 0x400, 0x800, 0x1000
INIT, READY, LOCKED, ERROR = 0, 1, 4, 5

port_file, state_file, store, session = sys.argv[1:5]
lock = threading.Lock()
images, templates = {}, {}
next_id = {"image": 0, "template": 0}
calls = []


def save():
    with open(state_file + ".tmp", "w") as f:
        json.dump({"images": images, "templates": templates, "calls": calls}, f, indent=1)
    os.replace(state_file + ".tmp", state_file)


def parse_template(text):
    """OpenNebula's template syntax: KEY = "VALUE" and KEY = [ A = "B", ... ]."""
    out = {}
    pos = 0
    pat = re.compile(r'\s*([A-Z_][A-Z0-9_]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|\[(.*?)\])\s*', re.S)
    while pos < len(text):
        m = pat.match(text, pos)
        if not m:
            raise ValueError("syntax error at %r" % text[pos:pos + 30])
        key, val, vec = m.group(1), m.group(2), m.group(3)
        if vec is not None:
            sub = {}
            for k, v in re.findall(r'([A-Z_][A-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"', vec):
                sub[k] = v
            val = sub
        out.setdefault(key, []).append(val)
        pos = m.end()
    return out


def check(method, args, types):
    """[session, ...] against the documented types; optional ones last."""
    need = [t for t in types if not t.endswith("?")]
    if not (len(need) + 1 <= len(args) <= len(types) + 1):
        return [False, "[%s] wrong number of parameters: %d" % (method, len(args)), XML_RPC_API]
    if not isinstance(args[0], str):
        return [False, "[%s] the session must be a string" % method, XML_RPC_API]
    for a, t in zip(args[1:], types):
        t = t.rstrip("?")
        ok = {"str": isinstance(a, str), "int": isinstance(a, int) and not isinstance(a, bool),
              "bool": isinstance(a, bool)}[t]
        if not ok:
            return [False, "[%s] parameter %r is not %s" % (method, a, t), XML_RPC_API]
    if args[0] != session:
        return [False, "[%s] User couldn't be authenticated, aborting call." % method, AUTHENTICATION]
    calls.append(method)
    return None


def image_xml(i):
    return ("<IMAGE><ID>%d</ID><NAME>%s</NAME><STATE>%d</STATE><SOURCE>%s</SOURCE>"
            "<TEMPLATE><ERROR>%s</ERROR></TEMPLATE></IMAGE>" %
            (i["id"], escape(i["name"]), i["state"], escape(i.get("source", "")),
             escape(i.get("error", ""))))


def fetch(img):
    try:
        dst = "%s/image-%d" % (store, img["id"])
        with urllib.request.urlopen(img["path"], timeout=60) as r, open(dst, "wb") as f:
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                f.write(b)
        with lock:
            img["state"], img["source"] = READY, dst
            save()
    except Exception as e:
        with lock:
            img["state"], img["error"] = ERROR, "Error copying image in the datastore: %s" % e
            save()


def image_allocate(*args):
    r = check("one.image.allocate", args, ["str", "int", "bool?"])
    if r:
        return r
    try:
        t = parse_template(args[1])
    except ValueError as e:
        return [False, "[one.image.allocate] Parse error: %s" % e, XML_RPC_API]
    for k in ("NAME", "PATH"):
        if k not in t:
            return [False, "[one.image.allocate] No %s in template." % k, XML_RPC_API]
    with lock:
        if any(i["name"] == t["NAME"][0] for i in images.values()):
            return [False, "[one.image.allocate] NAME is already taken by IMAGE.", 0x4000]
        iid = next_id["image"]
        next_id["image"] += 1
        img = {"id": iid, "name": t["NAME"][0], "path": t["PATH"][0], "state": LOCKED,
               "type": t.get("TYPE", ["OS"])[0], "driver": t.get("DRIVER", [""])[0],
               "datastore": args[2], "template": args[1]}
        images[str(iid)] = img
        save()
    threading.Thread(target=fetch, args=(img,), daemon=True).start()
    return [True, iid, 0]


def image_info(*args):
    r = check("one.image.info", args, ["int", "bool?"])
    if r:
        return r
    with lock:
        i = images.get(str(args[1]))
        if not i:
            return [False, "[one.image.info] Error getting image [%d]." % args[1], NO_EXISTS]
        return [True, image_xml(i), 0]


def image_delete(*args):
    r = check("one.image.delete", args, ["int", "bool?"])
    if r:
        return r
    with lock:
        i = images.get(str(args[1]))
        if not i:
            return [False, "[one.image.delete] Error getting image [%d]." % args[1], NO_EXISTS]
        del images[str(args[1])]
        save()
    return [True, args[1], 0]


def pool_info(kind, element, table):
    def info(*args):
        r = check("one.%spool.info" % kind, args, ["int", "int", "int"])
        if r:
            return r
        with lock:
            body = "".join("<%s><ID>%d</ID><NAME>%s</NAME></%s>" %
                           (element, o["id"], escape(o["name"]), element) for o in table.values())
        return [True, "<%s_POOL>%s</%s_POOL>" % (element, body, element), 0]
    return info


def template_allocate(*args):
    r = check("one.template.allocate", args, ["str"])
    if r:
        return r
    try:
        t = parse_template(args[1])
    except ValueError as e:
        return [False, "[one.template.allocate] Parse error: %s" % e, XML_RPC_API]
    disk = (t.get("DISK") or [{}])[0]
    if "NAME" not in t or not isinstance(disk, dict) or "IMAGE_ID" not in disk:
        return [False, "[one.template.allocate] NAME and DISK = [IMAGE_ID] are needed", XML_RPC_API]
    if "CONTEXT" not in t:
        return [False, "[one.template.allocate] no CONTEXT: the VM would get no network or key", XML_RPC_API]
    with lock:
        if disk["IMAGE_ID"] not in images:
            return [False, "[one.template.allocate] Error getting image [%s]." % disk["IMAGE_ID"], NO_EXISTS]
        tid = next_id["template"]
        next_id["template"] += 1
        templates[str(tid)] = {"id": tid, "name": t["NAME"][0], "image_id": int(disk["IMAGE_ID"]),
                               "context": t["CONTEXT"][0], "os": (t.get("OS") or [{}])[0],
                               "memory": t.get("MEMORY", [""])[0], "template": args[1]}
        save()
    return [True, tid, 0]


def template_delete(*args):
    r = check("one.template.delete", args, ["int", "bool?"])
    if r:
        return r
    with lock:
        if str(args[1]) not in templates:
            return [False, "[one.template.delete] Error getting template [%d]." % args[1], NO_EXISTS]
        del templates[str(args[1])]
        save()
    return [True, args[1], 0]


class Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/RPC2",)

    def log_message(self, *a):
        pass


server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=Handler, allow_none=False,
                            logRequests=False)
server.register_function(image_allocate, "one.image.allocate")
server.register_function(image_info, "one.image.info")
server.register_function(image_delete, "one.image.delete")
server.register_function(pool_info("image", "IMAGE", images), "one.imagepool.info")
server.register_function(template_allocate, "one.template.allocate")
server.register_function(template_delete, "one.template.delete")
server.register_function(pool_info("template", "VMTEMPLATE", templates), "one.templatepool.info")
with lock:
    save()
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
