"""The agent console in a real headless Chromium (Selenium with the system chromedriver)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

from conftest import TOKEN, Server  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM and CHROMEDRIVER
    profile = tempfile.mkdtemp(prefix="suggest-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1100,780"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"chromium would not start: {exc.msg}")
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait(driver: Any, condition: Any, timeout: float = 15) -> Any:
    return WebDriverWait(driver, timeout).until(condition)


def replies(driver: Any) -> list[str]:
    return [li.find_element(By.CSS_SELECTOR, ".text").text
            for li in driver.find_elements(By.CSS_SELECTOR, "#replies li[data-number]")]


def ask(driver: Any, message: str) -> list[str]:
    before = driver.find_element(By.ID, "history").text
    box = driver.find_element(By.ID, "message")
    box.send_keys(message)
    box.send_keys(Keys.ENTER)
    wait(driver, lambda d: d.find_element(By.ID, "history").text != before and replies(d))
    return replies(driver)


def test_type_a_message_and_read_and_copy_the_replies(server: Server, browser: Any) -> None:
    browser.get(server.url + "/")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    assert browser.title == "客服回复助手"
    wait(browser, expected_conditions.text_to_be_present_in_element((By.ID, "status"), "已载入"))

    got = ask(browser, "包邮吗 几天能到")
    assert len(got) >= 2 and all(text.startswith("亲") for text in got), got
    assert "快递物流" in browser.find_element(By.ID, "intents").text  # the intent's Chinese name
    assert browser.find_element(By.ID, "stage").text == "售前"
    assert [n.text for n in browser.find_elements(By.CSS_SELECTOR, "#replies .num")][:2] == ["1", "2"]
    assert browser.find_element(By.ID, "message").get_attribute("value") == ""  # ready for the next one

    # key 2 copies reply 2 (the box is empty), the copy button reply 1
    browser.find_element(By.ID, "message").send_keys("2")
    wait(browser, expected_conditions.text_to_be_present_in_element((By.ID, "toast"), "第 2 条"))
    assert browser.find_element(By.CSS_SELECTOR, '#replies li[data-number="2"]').get_attribute("class") == "copied"
    browser.find_element(By.CSS_SELECTOR, '#replies li[data-number="1"] .copy').click()
    wait(browser, expected_conditions.text_to_be_present_in_element((By.ID, "toast"), "第 1 条"))

    # a follow-up reads with this buyer's history
    ask(browser, "那新疆呢")
    assert browser.find_element(By.ID, "history").text.splitlines() == ["包邮吗 几天能到", "那新疆呢"]

    # a second buyer has a history of its own
    browser.find_element(By.ID, "new-tab").click()
    assert browser.find_element(By.CSS_SELECTOR, ".tab.active").text.startswith("买家2")
    assert browser.find_element(By.ID, "history").text == ""
    ask(browser, "收到就坏了！！怎么回事")
    assert "质量投诉" in browser.find_element(By.ID, "intents").text
    assert browser.find_element(By.ID, "history").text.splitlines() == ["收到就坏了！！怎么回事"]
    browser.find_elements(By.CSS_SELECTOR, ".tab")[0].click()
    assert browser.find_element(By.ID, "history").text.splitlines() == ["包邮吗 几天能到", "那新疆呢"]

    shot = os.environ.get("SUGGEST_CONSOLE_SCREENSHOT")  # set it to refresh docs/console.png
    if shot:  # a third buyer whose type shows too
        browser.find_element(By.ID, "new-tab").click()
        ask(browser, "拍了还没付款 能不能再便宜点")
        ask(browser, "别家才卖59 快点回我！！")
        browser.find_element(By.ID, "message").send_keys(Keys.ALT, "1")
        Path(shot).write_bytes(browser.get_screenshot_as_png())


def test_an_empty_message_is_not_sent_and_errors_show_in_the_page(server: Server, browser: Any) -> None:
    browser.get(server.url + "/")
    browser.execute_script("sessionStorage.clear()")  # the tabs of the test before live in this tab
    browser.refresh()
    box = browser.find_element(By.ID, "message")
    box.send_keys("   ")
    box.send_keys(Keys.ENTER)
    assert browser.find_element(By.ID, "history").text == ""
    box.send_keys("[图片]")  # empty once the placeholder is removed: the server's 400 shows
    box.send_keys(Keys.ENTER)
    wait(browser, expected_conditions.visibility_of_element_located((By.ID, "error")))
    assert "empty" in browser.find_element(By.ID, "error").text


def test_the_page_asks_for_the_token_when_the_server_wants_one(guarded: Server, browser: Any) -> None:
    browser.get(guarded.url + "/")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    wait(browser, expected_conditions.visibility_of_element_located((By.ID, "token-bar")))
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "token-save").click()
    wait(browser, expected_conditions.text_to_be_present_in_element((By.ID, "status"), "已载入"))
    assert not browser.find_element(By.ID, "token-bar").is_displayed()
    assert ask(browser, "包邮吗")
    assert "快递物流" in browser.find_element(By.ID, "intents").text
