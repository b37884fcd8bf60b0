"""Casts to coffer's conductor with oslo.messaging, configured as a Trove guest would be:
control_exchange = trove, amqp_durable_queues = true, nothing else changed.

Usage: cast.py AMQP_URL heartbeat INSTANCE_ID STATUS
       cast.py AMQP_URL update_backup INSTANCE_ID BACKUP_ID STATE
       cast.py AMQP_URL garbage          (a raw message that is not oslo's format)
"""
import sys
import time

from oslo_config import cfg
import oslo_messaging as messaging


def main():
    url, what = sys.argv[1], sys.argv[2]
    # oslo names RabbitMQ "rabbit://", and the default virtual host "/" is an empty path.
    url = url.replace("amqp://", "rabbit://", 1).replace("/%2f", "/")
    if what == "garbage":
        import kombu
        with kombu.Connection(url.replace("rabbit://", "amqp://", 1)) as conn:
            exchange = kombu.Exchange("trove", type="topic", durable=True)
            conn.Producer().publish(b"\x00 not json", exchange=exchange, routing_key="trove-conductor",
                                    declare=[exchange])
        return
    conf = cfg.CONF
    conf([])
    messaging.set_transport_defaults("trove")
    transport = messaging.get_rpc_transport(conf, url=url)
    conf.set_override("amqp_durable_queues", True, group="oslo_messaging_rabbit")
    client = messaging.get_rpc_client(transport, messaging.Target(topic="trove-conductor", version="1.0"))
    if what == "heartbeat":
        client.cast({}, "heartbeat", instance_id=sys.argv[3], payload={"service_status": sys.argv[4]},
                    sent=time.time())
    elif what == "update_backup":
        client.cast({}, "update_backup", instance_id=sys.argv[3], backup_id=sys.argv[4], state=sys.argv[5],
                    size=0.001, checksum="0" * 64, sent=time.time())
    else:
        raise SystemExit("unknown: " + what)
    transport.cleanup()


if __name__ == "__main__":
    main()
