// allure-vitest's reporter with the conformance defaults: results go to reports/allure-results, and a
// skipped ("not supported") test carries its reason as the Allure status message (allure-vitest
// itself reports skips without one).
import AllureVitestReporter from "allure-vitest/reporter";

type Task = { type: string; result?: { state?: string; note?: string }; tasks?: Task[] };
type Runtime = {
  updateTest: (uuid: string, fn: (r: { statusDetails?: { message?: string } }) => void) => void;
};

export default class ConformanceAllureReporter extends AllureVitestReporter {
  constructor() {
    super({ resultsDir: "reports/allure-results" });
  }

  override handleTask(task: Task): void {
    const note = task.type === "test" && task.result?.state === "skip" ? task.result.note : undefined;
    const runtime = (this as unknown as { allureReporterRuntime: Runtime }).allureReporterRuntime;
    if (!note || !runtime) {
      super.handleTask(task as never);
      return;
    }
    const original = runtime.updateTest;
    runtime.updateTest = (uuid, fn) =>
      original.call(runtime, uuid, (r) => {
        fn(r);
        r.statusDetails = { ...r.statusDetails, message: note };
      });
    try {
      super.handleTask(task as never);
    } finally {
      runtime.updateTest = original;
    }
  }
}
