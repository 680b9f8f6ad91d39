// Schedules in words a person picks from: presets at a time of day become cron, and a list
// of instants (RFC 3339 with the zone's offset, as /schedules/preview answers) says what
// daylight saving does to them. Pure functions: no DOM, no API.

export const PRESETS = [
  { value: "daily", label: "Every day" },
  { value: "weekdays", label: "Weekdays (Monday to Friday)" },
  { value: "monday", label: "Every Monday" },
  { value: "monthly", label: "The 1st of the month" },
  { value: "custom", label: "Custom (cron)" },
];

// The day fields (day of month, month, day of week) of each preset's cron.
const PRESET_DAYS = {
  daily: "* * *",
  weekdays: "* * 1-5",
  monday: "* * 1",
  monthly: "1 * *",
};

export const PERIODS = [
  { value: "previousDay", label: "The previous day" },
  { value: "previousWeek", label: "The previous week (Monday to Sunday)" },
  { value: "previousMonth", label: "The previous month" },
  { value: "monthToDate", label: "This month up to the day of the run" },
  { value: "last7Days", label: "The last 7 days (to the day before the run)" },
  { value: "last30Days", label: "The last 30 days (to the day before the run)" },
];

// "07:30" → { hour: 7, minute: 30 }, or null for anything else.
export function parseTimeOfDay(text) {
  const match = /^(\d{1,2}):(\d{2})(?::\d{2})?$/.exec(String(text || "").trim());
  if (!match) return null;
  const hour = Number(match[1]);
  const minute = Number(match[2]);
  return hour < 24 && minute < 60 ? { hour, minute } : null;
}

// A preset at a time of day as five-field cron ("weekdays", "07:30" → "30 7 * * 1-5"); null
// when the preset is custom or the time is not one.
export function cronForPreset(preset, timeOfDay) {
  const days = PRESET_DAYS[preset];
  const time = parseTimeOfDay(timeOfDay);
  if (!days || !time) return null;
  return `${time.minute} ${time.hour} ${days}`;
}

// The other way, to show a saved schedule in the form: "30 7 * * 1-5" → weekdays at 07:30;
// anything a preset does not make is custom.
export function presetOfCron(cron) {
  const fields = String(cron || "").trim().split(/\s+/);
  if (fields.length === 5 && /^\d{1,2}$/.test(fields[0]) && /^\d{1,2}$/.test(fields[1])) {
    const days = fields.slice(2).join(" ");
    const preset = Object.keys(PRESET_DAYS).find((name) => PRESET_DAYS[name] === days);
    const time = `${fields[1].padStart(2, "0")}:${fields[0].padStart(2, "0")}`;
    if (preset && parseTimeOfDay(time)) return { preset, time };
  }
  return { preset: "custom", time: null };
}

// "2026-03-29T03:00:00+02:00" → { date: "2026-03-29", time: "03:00", offset: 120, at: ms }.
export function parseInstant(text) {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.exec(String(text));
  if (!match) return null;
  const [, date, time, zone] = match;
  let offset = 0;
  if (zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  return { date, time, offset, at: Date.parse(text) };
}

// 120 → "UTC+02:00", -330 → "UTC-05:30".
export function offsetLabel(minutes) {
  const sign = minutes < 0 ? "-" : "+";
  const size = Math.abs(minutes);
  const pad = (value) => String(value).padStart(2, "0");
  return `UTC${sign}${pad(Math.floor(size / 60))}:${pad(size % 60)}`;
}

// "2026-03-29" → "29 March" (the calendar date itself: no zone may move it).
export function dayLabel(date) {
  const [year, month, day] = date.split("-").map(Number);
  return new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", timeZone: "UTC" }).format(
    new Date(Date.UTC(year, month - 1, day)),
  );
}

function amountLabel(minutes) {
  const size = Math.abs(minutes);
  if (size % 60 === 0) return `${size / 60} hour${size === 60 ? "" : "s"}`;
  return `${size} minutes`;
}

// The wall time the runs are meant at: the one given, else the time all runs but one share
// (a run that is not at it is one the spring change moved). Null for schedules of several
// times a day.
function intendedTime(runs, wallTime) {
  if (wallTime) return wallTime;
  const counts = new Map();
  for (const run of runs) counts.set(run.time, (counts.get(run.time) || 0) + 1);
  if (counts.size === 1) return runs[0].time;
  if (counts.size !== 2) return null;
  const [[first, firstCount], [second, secondCount]] = [...counts.entries()];
  if (firstCount === 1 && secondCount > 1) return second;
  if (secondCount === 1 && firstCount > 1) return first;
  return null;
}

// The wall clock ("2026-10-25 02:30") of an instant in a zone.
function wallClock(at, timezone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(new Date(at))
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

// Which of a wall time's two occurrences (autumn) an instant is: "first", "second" or null
// when the wall time happens once. Needs the zone's rules, so asks Intl.
function occurrence(run, shiftMinutes, timezone) {
  if (!timezone) return null;
  const shift = Math.abs(shiftMinutes) * 60_000;
  try {
    const here = wallClock(run.at, timezone);
    if (wallClock(run.at + shift, timezone) === here) return "first";
    if (wallClock(run.at - shift, timezone) === here) return "second";
  } catch (error) {
    return null; // a zone this browser does not know: say only what the offsets say
  }
  return null;
}

// Sentences on what daylight saving does to these runs, in order; none when every run has
// the same offset. instants: RFC 3339 strings with the schedule zone's offset; wallTime
// ("02:30"): the time of day the runs are meant at, when the schedule has one; timezone:
// the schedule's IANA zone (to tell a repeated autumn time).
export function daylightSavingNotes(instants, { wallTime = null, timezone = null } = {}) {
  const runs = (instants || []).map(parseInstant).filter(Boolean);
  const notes = [];
  const wanted = intendedTime(runs, wallTime);
  for (let index = 1; index < runs.length; index += 1) {
    const before = runs[index - 1];
    const after = runs[index];
    const shift = after.offset - before.offset;
    if (!shift) continue;
    const direction = shift > 0 ? "forward" : "back";
    notes.push(
      `Clocks go ${direction} ${amountLabel(shift)} between the runs of ${dayLabel(before.date)} and ` +
        `${dayLabel(after.date)} (${offsetLabel(before.offset)} to ${offsetLabel(after.offset)}); ` +
        "the runs keep their local time.",
    );
    if (shift > 0 && wanted && after.time !== wanted) {
      notes.push(`${wanted} does not exist on ${dayLabel(after.date)}; that run happens at ${after.time}.`);
    }
    if (shift < 0) {
      for (const run of [before, after]) {
        const which = occurrence(run, shift, timezone);
        if (which && (!wanted || run.time === wanted)) {
          notes.push(
            `${run.time} happens twice on ${dayLabel(run.date)}; the run happens once, at the ${which} ` +
              `${run.time} (${offsetLabel(run.offset)}).`,
          );
        }
      }
    }
  }
  return notes;
}
