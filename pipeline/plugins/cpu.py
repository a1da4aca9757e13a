"""The cpu family: ``cpu`` (the whole machine) and ``percpu`` (each CPU)."""

# ruff: noqa: E501 - descriptions are quoted whole from the specification

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.checks import Option
from pipeline.checks import number as check_number
from pipeline.plugins.descriptor import FieldInfo, PluginInfo, bottleneck, cwc, decorate, fixed

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


#: the fields cpu and percpu describe alike
_SYSTEM = F(
    "Percent time spent in kernel space. System CPU time is the time spent running code in the Operating System kernel.",
    "percent",
)
_USER = F(
    "CPU percent time spent in user space. User CPU time is the time spent on the processor running your program's code (or code in libraries).",
    "percent",
)
_IOWAIT = F(
    "*(Linux)*: percent time spent by the CPU waiting for I/O operations to complete.",
    "percent",
)
_IDLE = F(
    "percent of CPU used by any program. Every program or task that runs on a computer system occupies a certain amount of processing time on the CPU. If the CPU has completed all tasks it is idle.",
    "percent",
)
_IRQ = F(
    "*(Linux and BSD)*: percent time spent servicing/handling hardware/software interrupts. Time servicing interrupts (hardware + software).",
    "percent",
)
_NICE = F(
    "*(Unix)*: percent time occupied by user level processes with a positive nice value. The time the CPU has spent running users' processes that have been *niced*.",
    "percent",
)
_STEAL = F(
    "*(Linux)*: percentage of time a virtual CPU waits for a real CPU while the hypervisor is servicing another virtual processor.",
    "percent",
)


def _cpu_limits(ncpu: int) -> dict[str, float | bool]:
    return {
        **cwc("cpu_user", 50, 70, 90),
        **cwc("cpu_system", 50, 70, 90),
        **cwc("cpu_steal", 50, 70, 90),
        **cwc("cpu_total", 65, 75, 85),
        **bottleneck("cpu_iowait", 100.0 / ncpu),
        **bottleneck("cpu_ctx_switches", 50000.0 * ncpu),
        "cpu_user_log": False,
        "cpu_system_log": False,
        "cpu_total_log": True,
    }


def _cpu(j: Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    for field in ("user", "system", "iowait", "total"):  # alert and log
        if field in data:
            decorate(views, field, j.alert(field, data[field], header=field, log=True))
    if "steal" in data:
        decorate(views, "steal", j.alert("steal", data["steal"], header="steal"))
    if "ctx_switches" in data and j.measurable(data, "ctx_switches"):
        decoration = j.alert(
            "ctx_switches", data["ctx_switches"], maximum=100 * cpucore, header="ctx_switches"
        )
        decorate(views, "ctx_switches", decoration)


DESCRIPTORS = (
    PluginInfo(
        "cpu",
        "dict",
        fields={
            "total": F("Sum of all CPU percentages (except idle).", "percent"),
            "system": _SYSTEM,
            "user": _USER,
            "iowait": _IOWAIT,
            "dpc": F(
                "*(Windows)*: time spent servicing deferred procedure calls (DPCs).", "percent"
            ),
            "idle": _IDLE,
            "irq": _IRQ,
            "nice": _NICE,
            "steal": _STEAL,
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
        limits=_cpu_limits,
        rule=_cpu,
        optional_views=frozenset(
            {"nice", "irq", "steal", "ctx_switches", "interrupts", "soft_interrupts", "syscalls"}
        ),
        sectioned=True,
        history=("user", "system"),
    ),
    PluginInfo(
        "percpu",
        "list",
        "cpu_number",
        fields={
            "cpu_number": F("CPU number.", ""),
            "total": F("Sum of CPU percentages (except idle) for current CPU number.", "percent"),
            "system": _SYSTEM,
            "user": _USER,
            "iowait": _IOWAIT,
            "idle": _IDLE,
            "irq": _IRQ,
            "nice": _NICE,
            "steal": _STEAL,
            "guest": F(
                "*(Linux)*: percent of time spent running a virtual CPU for guest operating systems under the control of the Linux kernel.",
                "percent",
            ),
            "guest_nice": F(
                "*(Linux)*: percent of time spent running a niced guest (virtual CPU).", "percent"
            ),
            "softirq": F(
                "*(Linux)*: percent of time spent handling software interrupts.", "percent"
            ),
            "dpc": F(
                "*(Windows)*: percent of time spent handling deferred procedure calls.", "percent"
            ),
            "interrupt": F(
                "*(Windows)*: percent of time spent handling software interrupts.", "percent"
            ),
        },
        options={"max_cpu_display": Option(check_number(1, 100_000, integer=True), 4)},
        limits=fixed(
            {
                **cwc("percpu_user", 50, 70, 90),
                **cwc("percpu_system", 50, 70, 90),
                **cwc("percpu_iowait", 50, 70, 90),
            }
        ),
        sectioned=True,
        limits_always=frozenset({"max_cpu_display"}),
        history=("user", "system"),
    ),
)
