"""Field metadata of every Glances v4 plugin: description and unit of each field.

The API serves them as ``/<plugin>/<field>/description`` and ``/<plugin>/<field>/unit``.
Generated from the "Fields descriptions" of the Glances API v4 specification (each
bullet ``* **name**: text (unit is *unit*)``, with the trailing period the reference's
``/description`` answers), plus the fields statbus emits that the spec leaves out.

* ``unit`` is ``""`` where the spec says *None* (the reference answers ``null``);
  a rate field's unit reads like ``"byte per second"``.
* ``rate`` is True for a counter that has ``_gauge`` and ``_rate_per_sec`` siblings.

Plain data, generated once; edit it by hand from now on.
"""

# ruff: noqa: E501 - descriptions are quoted whole from the specification

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldInfo:
    description: str
    unit: str
    rate: bool = False


F = FieldInfo

# The spec documents processlist and programlist with the same fields.
_PROCESS_FIELDS: dict[str, FieldInfo] = {
    "pid": F("Process identifier (ID).", "number"),
    "name": F("Process name.", "string"),
    "cmdline": F("Command line with arguments.", "list"),
    "username": F("Process owner.", "string"),
    "num_threads": F("Number of threads.", "number"),
    "cpu_percent": F("Process CPU consumption.", "percent"),
    "memory_percent": F("Process memory consumption.", "percent"),
    "memory_info": F(
        "Process memory information (dict with rss, vms, shared, text, lib, data, dirty keys).",
        "byte",
    ),
    "status": F("Process status.", "string"),
    "nice": F("Process nice value.", "number"),
    "cpu_times": F("Process CPU times (dict with user, system, iowait keys).", "second"),
    "gids": F("Process group IDs (dict with real, effective, saved keys).", "number"),
    "io_counters": F(
        "Process IO counters (list with read_count, write_count, read_bytes, write_bytes, io_tag keys).",
        "byte",
    ),
}

FIELDS: dict[str, dict[str, FieldInfo]] = {
    "alert": {
        "begin": F("Begin timestamp of the event.", "timestamp"),
        "end": F("End timestamp of the event (or -1 if ongoing).", "timestamp"),
        "state": F("State of the event (WARNING|CRITICAL).", "string"),
        "type": F("Type of the event (CPU|LOAD|MEM).", "string"),
        "max": F("Maximum value during the event period.", "float"),
        "avg": F("Average value during the event period.", "float"),
        "min": F("Minimum value during the event period.", "float"),
        "sum": F("Sum of the values during the event period.", "float"),
        "count": F("Number of values during the event period.", "int"),
        "top": F("Top 3 processes name during the event period.", "list"),
        "desc": F("Description of the event.", "string"),
        "sort": F("Sort key of the top processes.", "string"),
        "global_msg": F("Global alert message.", "string"),
    },
    "amps": {
        "name": F("AMP name.", ""),
        "result": F("AMP result (a string).", ""),
        "refresh": F("AMP refresh interval.", "second"),
        "timer": F("Time until next refresh.", "second"),
        "count": F("Number of matching processes.", "number"),
        "countmin": F("Minimum number of matching processes.", "number"),
        "countmax": F("Maximum number of matching processes.", "number"),
    },
    "cloud": {
        "id": F(
            "Cloud identifier of the instance: the EC2 AMI id or the OpenStack project id.", ""
        ),
        "name": F("Name of the instance: the EC2 instance id or the OpenStack instance name.", ""),
        "type": F("Type of the instance: the EC2 instance type or the OpenStack role.", ""),
        "region": F("Availability zone of the instance.", ""),
        "platform": F("Cloud platform: OpenStack or Amazon EC2.", ""),
    },
    "connections": {
        "LISTEN": F("Number of TCP connections in LISTEN state.", "number"),
        "ESTABLISHED": F("Number of TCP connections in ESTABLISHED state.", "number"),
        "SYN_SENT": F("Number of TCP connections in SYN_SENT state.", "number"),
        "SYN_RECV": F("Number of TCP connections in SYN_RECV state.", "number"),
        "initiated": F("Number of TCP connections initiated.", "number"),
        "terminated": F("Number of TCP connections terminated.", "number"),
        "nf_conntrack_count": F("Number of tracked connections.", "number"),
        "nf_conntrack_max": F("Maximum number of tracked connections.", "number"),
        "nf_conntrack_percent": F("Percentage of tracked connections.", "percent"),
        "net_connections_enabled": F("Whether the TCP connection states could be read.", "bool"),
        "nf_conntrack_enabled": F("Whether the netfilter conntrack counts could be read.", "bool"),
    },
    "containers": {
        "name": F("Container name.", ""),
        "id": F("Container ID.", ""),
        "image": F("Container image.", ""),
        "status": F("Container status.", ""),
        "created": F("Container creation date.", ""),
        "command": F("Container command.", ""),
        "cpu_percent": F("Container CPU consumption.", "percent"),
        "memory_inactive_file": F("Container memory inactive file.", "byte"),
        "memory_limit": F("Container memory limit.", "byte"),
        "memory_usage": F("Container memory usage.", "byte"),
        "io_rx": F("Container IO bytes read rate.", "bytepersecond"),
        "io_wx": F("Container IO bytes write rate.", "bytepersecond"),
        "network_rx": F("Container network RX bitrate.", "bitpersecond"),
        "network_tx": F("Container network TX bitrate.", "bitpersecond"),
        "uptime": F("Container uptime.", ""),
        "engine": F("Container engine (Docker and Podman are currently supported).", ""),
        "pod_name": F("Pod name (only with Podman).", ""),
        "pod_id": F("Pod ID (only with Podman).", ""),
    },
    "core": {
        "phys": F("Number of physical cores (hyper thread CPUs are excluded).", "number"),
        "log": F(
            "Number of logical CPU cores. A logical CPU is the number of physical cores multiplied by the number of threads that can run on each core.",
            "number",
        ),
    },
    "cpu": {
        "total": F("Sum of all CPU percentages (except idle).", "percent"),
        "system": F(
            "Percent time spent in kernel space. System CPU time is the time spent running code in the Operating System kernel.",
            "percent",
        ),
        "user": F(
            "CPU percent time spent in user space. User CPU time is the time spent on the processor running your program's code (or code in libraries).",
            "percent",
        ),
        "iowait": F(
            "*(Linux)*: percent time spent by the CPU waiting for I/O operations to complete.",
            "percent",
        ),
        "dpc": F("*(Windows)*: time spent servicing deferred procedure calls (DPCs).", "percent"),
        "idle": F(
            "percent of CPU used by any program. Every program or task that runs on a computer system occupies a certain amount of processing time on the CPU. If the CPU has completed all tasks it is idle.",
            "percent",
        ),
        "irq": F(
            "*(Linux and BSD)*: percent time spent servicing/handling hardware/software interrupts. Time servicing interrupts (hardware + software).",
            "percent",
        ),
        "nice": F(
            "*(Unix)*: percent time occupied by user level processes with a positive nice value. The time the CPU has spent running users' processes that have been *niced*.",
            "percent",
        ),
        "steal": F(
            "*(Linux)*: percentage of time a virtual CPU waits for a real CPU while the hypervisor is servicing another virtual processor.",
            "percent",
        ),
        "guest": F(
            "*(Linux)*: time spent running a virtual CPU for guest operating systems under the control of the Linux kernel.",
            "percent",
        ),
        "ctx_switches": F(
            "number of context switches (voluntary + involuntary) per second. A context switch is a procedure that a computer's CPU (central processing unit) follows to change from one task (or process) to another while ensuring that the tasks do not conflict.",
            "number",
            rate=True,
        ),
        "ctx_switches_rate_per_sec": F(
            "number of context switches (voluntary + involuntary) per second. A context switch is a procedure that a computer's CPU (central processing unit) follows to change from one task (or process) to another while ensuring that the tasks do not conflict per second.",
            "number per second",
        ),
        "ctx_switches_gauge": F(
            "number of context switches (voluntary + involuntary) per second. A context switch is a procedure that a computer's CPU (central processing unit) follows to change from one task (or process) to another while ensuring that the tasks do not conflict (cumulative).",
            "number",
        ),
        "interrupts": F("number of interrupts per second.", "number", rate=True),
        "interrupts_rate_per_sec": F(
            "number of interrupts per second per second.", "number per second"
        ),
        "interrupts_gauge": F("number of interrupts per second (cumulative).", "number"),
        "soft_interrupts": F(
            "number of software interrupts per second. Always set to 0 on Windows and SunOS.",
            "number",
            rate=True,
        ),
        "soft_interrupts_rate_per_sec": F(
            "number of software interrupts per second. Always set to 0 on Windows and SunOS per second.",
            "number per second",
        ),
        "soft_interrupts_gauge": F(
            "number of software interrupts per second. Always set to 0 on Windows and SunOS (cumulative).",
            "number",
        ),
        "syscalls": F(
            "number of system calls per second. Always 0 on Linux OS.", "number", rate=True
        ),
        "syscalls_rate_per_sec": F(
            "number of system calls per second. Always 0 on Linux OS per second.",
            "number per second",
        ),
        "syscalls_gauge": F(
            "number of system calls per second. Always 0 on Linux OS (cumulative).", "number"
        ),
        "cpucore": F("Total number of CPU core.", "number"),
        "time_since_update": F("Number of seconds since last update.", "seconds"),
    },
    "diskio": {
        "disk_name": F("Disk name.", ""),
        "read_count": F("Number of reads.", "number", rate=True),
        "read_count_rate_per_sec": F("Number of reads per second.", "number per second"),
        "read_count_gauge": F("Number of reads (cumulative).", "number"),
        "write_count": F("Number of writes.", "number", rate=True),
        "write_count_rate_per_sec": F("Number of writes per second.", "number per second"),
        "write_count_gauge": F("Number of writes (cumulative).", "number"),
        "read_bytes": F("Number of bytes read.", "byte", rate=True),
        "read_bytes_rate_per_sec": F("Number of bytes read per second.", "byte per second"),
        "read_bytes_gauge": F("Number of bytes read (cumulative).", "byte"),
        "write_bytes": F("Number of bytes written.", "byte", rate=True),
        "write_bytes_rate_per_sec": F("Number of bytes written per second.", "byte per second"),
        "write_bytes_gauge": F("Number of bytes written (cumulative).", "byte"),
        "time_since_update": F("Number of seconds since last update.", "seconds"),
        "read_time": F("Time spent reading from the disk.", "millisecond", rate=True),
        "read_time_rate_per_sec": F(
            "Time spent reading from the disk per second.", "millisecond per second"
        ),
        "read_time_gauge": F("Time spent reading from the disk (cumulative).", "millisecond"),
        "write_time": F("Time spent writing to the disk.", "millisecond", rate=True),
        "write_time_rate_per_sec": F(
            "Time spent writing to the disk per second.", "millisecond per second"
        ),
        "write_time_gauge": F("Time spent writing to the disk (cumulative).", "millisecond"),
        "read_latency": F("Mean time per read operation during the last interval.", "millisecond"),
        "write_latency": F(
            "Mean time per write operation during the last interval.", "millisecond"
        ),
    },
    "folders": {
        "path": F("Absolute path.", ""),
        "size": F("Folder size in bytes.", "byte"),
        "refresh": F("Refresh interval in seconds.", "second"),
        "errno": F("Return code when retrieving folder size (0 is no error).", "number"),
        "careful": F("Careful threshold in MB.", "megabyte"),
        "warning": F("Warning threshold in MB.", "megabyte"),
        "critical": F("Critical threshold in MB.", "megabyte"),
    },
    "fs": {
        "device_name": F("Device name.", ""),
        "fs_type": F("File system type.", ""),
        "mnt_point": F("Mount point.", ""),
        "options": F("Mount options.", ""),
        "size": F("Total size.", "byte"),
        "used": F("Used size.", "byte"),
        "free": F("Free size.", "byte"),
        "percent": F("File system usage in percent.", "percent"),
    },
    "gpu": {
        "gpu_id": F("GPU identification.", ""),
        "name": F("GPU name.", ""),
        "mem": F("Memory consumption.", "percent"),
        "proc": F("GPU processor consumption.", "percent"),
        "temperature": F("GPU temperature.", "celsius"),
        "fan_speed": F("GPU fan speed.", "roundperminute"),
    },
    "help": {},
    "ip": {
        "address": F("Private IP address.", ""),
        "mask": F("Private IP mask.", ""),
        "mask_cidr": F("Private IP mask in CIDR format.", "number"),
        "gateway": F("Private IP gateway.", ""),
        "public_address": F("Public IP address.", ""),
        "public_info_human": F("Public IP information.", ""),
    },
    "irq": {
        "irq_line": F("IRQ line name.", ""),
        "irq_rate": F("IRQ rate per second.", "numberpersecond"),
        "time_since_update": F("Number of seconds since last update.", "seconds"),
    },
    "load": {
        "min1": F(
            "Average sum of the number of processes waiting in the run-queue plus the number currently executing over 1 minute.",
            "float",
        ),
        "min5": F(
            "Average sum of the number of processes waiting in the run-queue plus the number currently executing over 5 minutes.",
            "float",
        ),
        "min15": F(
            "Average sum of the number of processes waiting in the run-queue plus the number currently executing over 15 minutes.",
            "float",
        ),
        "cpucore": F("Total number of CPU core.", "number"),
    },
    "mem": {
        "total": F("Total physical memory available.", "bytes"),
        "available": F(
            "The actual amount of available memory that can be given instantly to processes that request more memory in bytes; this is calculated by summing different memory values depending on the platform (e.g. free + buffers + cached on Linux) and it is supposed to be used to monitor actual memory usage in a cross platform fashion.",
            "bytes",
        ),
        "percent": F(
            "The percentage usage calculated as (total - available) / total * 100.", "percent"
        ),
        "used": F(
            "Memory used, calculated differently depending on the platform and designed for informational purposes only.",
            "bytes",
        ),
        "free": F(
            "Memory not being used at all (zeroed) that is readily available; note that this doesn't reflect the actual memory available (use 'available' instead).",
            "bytes",
        ),
        "active": F(
            "*(UNIX)*: memory currently in use or very recently used, and so it is in RAM.", "bytes"
        ),
        "inactive": F("*(UNIX)*: memory that is marked as not used.", "bytes"),
        "buffers": F("*(Linux, BSD)*: cache for things like file system metadata.", "bytes"),
        "cached": F("*(Linux, BSD)*: cache for various things.", "bytes"),
        "wired": F(
            "*(BSD, macOS)*: memory that is marked to always stay in RAM. It is never moved to disk.",
            "bytes",
        ),
        "shared": F(
            "*(BSD)*: memory that may be simultaneously accessed by multiple processes.", "bytes"
        ),
        "percent_min": F("Lowest memory usage since statbus started.", "percent"),
        "percent_max": F("Highest memory usage since statbus started.", "percent"),
        "percent_mean": F(
            "Mean memory usage since statbus started (over the last 28800 samples at most).",
            "percent",
        ),
    },
    "memswap": {
        "total": F("Total swap memory.", "bytes"),
        "used": F("Used swap memory.", "bytes"),
        "free": F("Free swap memory.", "bytes"),
        "percent": F("Used swap memory in percentage.", "percent"),
        "sin": F("The number of bytes the system has swapped in from disk (cumulative).", "bytes"),
        "sout": F(
            "The number of bytes the system has swapped out from disk (cumulative).", "bytes"
        ),
        "time_since_update": F("Number of seconds since last update.", "seconds"),
    },
    "network": {
        "interface_name": F("Interface name.", ""),
        "alias": F("Interface alias name (optional).", ""),
        "bytes_recv": F("Number of bytes received.", "byte", rate=True),
        "bytes_recv_rate_per_sec": F("Number of bytes received per second.", "byte per second"),
        "bytes_recv_gauge": F("Number of bytes received (cumulative).", "byte"),
        "bytes_sent": F("Number of bytes sent.", "byte", rate=True),
        "bytes_sent_rate_per_sec": F("Number of bytes sent per second.", "byte per second"),
        "bytes_sent_gauge": F("Number of bytes sent (cumulative).", "byte"),
        "bytes_all": F("Number of bytes received and sent.", "byte", rate=True),
        "bytes_all_rate_per_sec": F(
            "Number of bytes received and sent per second.", "byte per second"
        ),
        "bytes_all_gauge": F("Number of bytes received and sent (cumulative).", "byte"),
        "speed": F(
            "Maximum interface speed (in bit per second). Can return 0 on some operating-system.",
            "bitpersecond",
        ),
        "is_up": F("Is the interface up ?.", "bool"),
        "time_since_update": F("Number of seconds since last update.", "seconds"),
    },
    "now": {
        "custom": F("Current date in custom format.", ""),
        "iso": F("Current date in ISO 8601 format.", ""),
    },
    "percpu": {
        "cpu_number": F("CPU number.", ""),
        "total": F("Sum of CPU percentages (except idle) for current CPU number.", "percent"),
        "system": F(
            "Percent time spent in kernel space. System CPU time is the time spent running code in the Operating System kernel.",
            "percent",
        ),
        "user": F(
            "CPU percent time spent in user space. User CPU time is the time spent on the processor running your program's code (or code in libraries).",
            "percent",
        ),
        "iowait": F(
            "*(Linux)*: percent time spent by the CPU waiting for I/O operations to complete.",
            "percent",
        ),
        "idle": F(
            "percent of CPU used by any program. Every program or task that runs on a computer system occupies a certain amount of processing time on the CPU. If the CPU has completed all tasks it is idle.",
            "percent",
        ),
        "irq": F(
            "*(Linux and BSD)*: percent time spent servicing/handling hardware/software interrupts. Time servicing interrupts (hardware + software).",
            "percent",
        ),
        "nice": F(
            "*(Unix)*: percent time occupied by user level processes with a positive nice value. The time the CPU has spent running users' processes that have been *niced*.",
            "percent",
        ),
        "steal": F(
            "*(Linux)*: percentage of time a virtual CPU waits for a real CPU while the hypervisor is servicing another virtual processor.",
            "percent",
        ),
        "guest": F(
            "*(Linux)*: percent of time spent running a virtual CPU for guest operating systems under the control of the Linux kernel.",
            "percent",
        ),
        "guest_nice": F(
            "*(Linux)*: percent of time spent running a niced guest (virtual CPU).", "percent"
        ),
        "softirq": F("*(Linux)*: percent of time spent handling software interrupts.", "percent"),
        "dpc": F(
            "*(Windows)*: percent of time spent handling deferred procedure calls.", "percent"
        ),
        "interrupt": F(
            "*(Windows)*: percent of time spent handling software interrupts.", "percent"
        ),
    },
    "ports": {
        "host": F("Measurement is be done on this host (or IP address).", ""),
        "port": F("Measurement is be done on this port (0 for ICMP).", ""),
        "description": F("Human readable description for the host/port.", ""),
        "refresh": F("Refresh time (in seconds) for this host/port.", ""),
        "timeout": F("Timeout (in seconds) for the measurement.", ""),
        "status": F("Measurement result (in seconds).", "second"),
        "rtt_warning": F("Warning threshold (in seconds) for the measurement.", "second"),
        "indice": F("Unique indice for the host/port.", ""),
    },
    "processcount": {
        "total": F("Total number of processes.", "number"),
        "running": F("Total number of running processes.", "number"),
        "sleeping": F("Total number of sleeping processes.", "number"),
        "thread": F("Total number of threads.", "number"),
        "pid_max": F("Maximum number of processes.", "number"),
    },
    "processlist": {
        **_PROCESS_FIELDS,
        "time_since_update": F("Number of seconds since last update.", "seconds"),
        "extended_stats": F("True on the process whose extended stats were requested.", "bool"),
        "cpu_affinity": F("CPUs the process may run on (extended stats).", "list"),
        "ionice": F("I/O scheduling class and priority (extended stats).", "list"),
        "num_ctx_switches": F(
            "Voluntary and involuntary context switches (extended stats).", "number"
        ),
        "num_fds": F("Number of open file descriptors (extended stats).", "number"),
        "memory_swap": F("Memory swapped out (extended stats).", "byte"),
        "tcp": F("Number of TCP connections (extended stats).", "number"),
        "udp": F("Number of UDP sockets (extended stats).", "number"),
    },
    "programlist": {
        **_PROCESS_FIELDS,
        "childrens": F("Process identifiers of the program's processes.", "list"),
        "nprocs": F("Number of processes of the program.", "number"),
        "time_since_update": F("Number of seconds since last update.", "seconds"),
    },
    "psutilversion": {},
    "quicklook": {
        "cpu": F("CPU percent usage.", "percent"),
        "mem": F("MEM percent usage.", "percent"),
        "swap": F("SWAP percent usage.", "percent"),
        "load": F("LOAD percent usage.", "percent"),
        "cpu_log_core": F("Number of logical CPU core.", "number"),
        "cpu_phys_core": F("Number of physical CPU core.", "number"),
        "cpu_name": F("CPU name.", ""),
        "cpu_hz_current": F("CPU current frequency.", "hertz"),
        "cpu_hz": F("CPU max frequency.", "hertz"),
        "percpu": F("Per-CPU usage (list, as the percpu plugin).", "list"),
    },
    "raid": {
        "status": F(
            "Array status: active, inactive, or broken (a raid0 or linear array missing a member).",
            "",
        ),
        "type": F(
            "Array personality: raid0, raid1, raid5, linear... (None for an inactive array).", ""
        ),
        "components": F("Member devices (dict of device name: role number in the array).", ""),
        "available": F(
            "Number of devices the array should have (None for raid0, linear and inactive arrays).",
            "number",
        ),
        "used": F(
            "Number of devices of the array that work (None for raid0, linear and inactive arrays).",
            "number",
        ),
        "config": F(
            "State of each device of the array: U up, _ down (None for raid0, linear and inactive arrays).",
            "",
        ),
    },
    "sensors": {
        "label": F("Sensor label.", ""),
        "unit": F("Sensor unit.", ""),
        "value": F("Sensor value.", "number"),
        "warning": F("Warning threshold.", "number"),
        "critical": F("Critical threshold.", "number"),
        "type": F("Sensor type (one of battery, temperature_core, fan_speed).", ""),
    },
    "smart": {
        # the other keys are SMART attribute ids ("5", "194", ...), each a dict with
        # name, flags, raw, value, worst, threshold, type, updated and when_failed
        "DeviceName": F("Device name (without /dev/) and model.", ""),
    },
    "system": {
        "os_name": F("Operating system name.", ""),
        "hostname": F("Hostname.", ""),
        "platform": F("Platform (32 or 64 bits).", ""),
        "linux_distro": F("Linux distribution.", ""),
        "os_version": F("Operating system version.", ""),
        "hr_name": F("Human readable operating system name.", ""),
    },
    "uptime": {},
    "version": {},
    "vms": {
        "name": F("Vm name.", ""),
        "id": F("Vm ID.", ""),
        "release": F("Vm release.", ""),
        "status": F("Vm status.", ""),
        "cpu_count": F("Vm CPU count.", ""),
        "cpu_time": F("Vm CPU time.", "percent", rate=True),
        "cpu_time_rate_per_sec": F("Vm CPU time per second.", "percent per second"),
        "cpu_time_gauge": F("Vm CPU time (cumulative).", "percent"),
        "memory_usage": F("Vm memory usage.", "byte"),
        "memory_total": F("Vm memory total.", "byte"),
        "load_1min": F("Vm Load last 1 min.", ""),
        "load_5min": F("Vm Load last 5 mins.", ""),
        "load_15min": F("Vm Load last 15 mins.", ""),
        "ipv4": F("Vm IP v4 address.", ""),
        "engine": F("VM engine name.", ""),
        "engine_version": F("VM engine version.", ""),
        "time_since_update": F("Number of seconds since last update.", "seconds"),
    },
    "wifi": {
        "ssid": F("Wi-Fi network name.", ""),
        "quality_link": F("Signal quality level.", "dBm"),
        "quality_level": F("Signal strong level.", "dBm"),
    },
}
