"""The operator console in headless Chromium: log in, see the supervision tree, watch an
instance created through the API go BUILD -> ACTIVE without a reload, see the injected panic
as a restart in the tree; screenshots at 1280x800 and 390x844."""

import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

URL = os.environ["COFFER_URL"]
PASSWORD = os.environ["ADMIN_PASSWORD"]
ARTIFACTS = os.environ["COFFERTEST_ARTIFACTS"]
CHECKS = []


def check(what, ok, detail=""):
    CHECKS.append((what, ok))
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else f" ({detail})"), flush=True)


def until(what, probe, within=30.0):
    """Polls probe() every 100 ms until it returns something truthy; returns it or None."""
    deadline = time.time() + within
    last = None
    while time.time() < deadline:
        try:
            last = probe()
            if last:
                return last
        except Exception as e:  # the page is being re-rendered under the probe
            last = e
        time.sleep(0.1)
    print(f"  {what}: not within {within} s; last seen: {last!r}", flush=True)
    return None


def token():
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    request = urllib.request.Request(f"{URL}/v3/auth/tokens", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request) as response:
        return response.headers["X-Subject-Token"], json.load(response)["token"]["project"]["id"]


def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,800"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def main():
    driver = browser()
    try:
        driver.get(f"{URL}/console")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login-button").click()
        tree = until("the supervision tree", lambda: driver.find_elements(
            By.CSS_SELECTOR, '#tree li[data-kind="task_manager"]'))
        check("logged in, the tree shows the system's task manager", bool(tree))
        check("the tree's root is the system", bool(driver.find_elements(By.CSS_SELECTOR, '#tree > ul > li[data-kind="system"]')))
        driver.execute_script("window.__notReloaded = true")

        auth, project = token()
        body = {"instance": {"name": "watched", "flavorRef": "1", "volume": {"size": 1},
                             "datastore": {"type": "simulated", "version": "1"}}}
        request = urllib.request.Request(f"{URL}/v1.0/{project}/instances", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json", "X-Auth-Token": auth}, method="POST")
        with urllib.request.urlopen(request) as response:
            instance = json.load(response)["instance"]["id"]
        print(f"created {instance}", flush=True)

        seen = []
        restarted = None
        deadline = time.time() + 60
        while time.time() < deadline:
            rows = driver.find_elements(By.CSS_SELECTOR, f'#instances tr[data-instance-id="{instance}"] td.status')
            try:
                status = rows[0].text if rows else None
            except Exception:
                status = None
            if status and (not seen or seen[-1] != status):
                seen.append(status)
            if restarted is None:
                actors = driver.find_elements(By.CSS_SELECTOR, f'#tree li[data-kind="instance"][data-id="{instance}"]')
                try:
                    if actors and int(actors[0].get_attribute("data-restarts")) >= 1:
                        restarted = actors[0].text
                except Exception:
                    pass
            if status == "ACTIVE" and restarted is not None:
                break
            time.sleep(0.1)
        print(f"statuses shown: {seen}", flush=True)
        check("the page showed BUILD, then ACTIVE", "BUILD" in seen and "ACTIVE" in seen
              and seen.index("BUILD") < seen.index("ACTIVE"), seen)
        check("the injected panic shows as a restart of the instance's actor in the tree", restarted is not None, restarted)
        if restarted:
            check("the tree names the failure", "injected panic" in restarted, restarted)
        check("no reload happened", driver.execute_script("return window.__notReloaded === true") is True)

        for width, height in [(1280, 800), (390, 844)]:
            driver.set_window_size(width, height)
            time.sleep(0.5)
            overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            check(f"no page-wide horizontal scroll at {width}x{height}", overflow <= 0, overflow)
            path = os.path.join(ARTIFACTS, f"console-{width}x{height}.png")
            driver.save_screenshot(path)
            print(f"screenshot: {path}", flush=True)

        driver.set_window_size(1280, 800)
        # The instance's own page, from its row's link.
        driver.find_element(By.CSS_SELECTOR, f'#instances tr[data-instance-id="{instance}"] a').click()
        history = until("the instance's status history", lambda: [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#instance-history li")
                                                                  if "ACTIVE" in li.text])
        check("the instance page shows its status history up to ACTIVE", bool(history))
        driver.save_screenshot(os.path.join(ARTIFACTS, "console-instance-1280x800.png"))
    finally:
        driver.quit()
    failed = [what for what, ok in CHECKS if not ok]
    print(f"console: {len(CHECKS) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
