"""Common East Asian family names (romanised), to tell when a name is written family name first."""

from __future__ import annotations

import re
from functools import lru_cache

CHINESE = frozenset(
    """
    wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin gao luo zheng liang xie song
    tang han feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei su lu ding ren shen
    yao jin fu zhong tan lv lu shi cui qiu qin jia xia fang hou zou xiong meng kong bai yan mao hao gu shao
    wan qian qi lei long duan hao tao dai fan gong hong wen niu geng ni mo ou yin jiao chang kang ke kuang
    lai lan lian liao ling mei miao nie ning pei pu qu rao ruan sang shan shang she tong tu weng xiang xin
    yi ying you zang zhan zhuang zhuo zuo bao bi bian bo chai che chi chu ci dang di diao dou e fei gan
    ge guan gui hang hua ji jian jie jing ju kan kou ku lang le leng lou mai man mu nan ning ou pang
    qiao quan ran rong sha si sui tai teng wu xi xing xue yun zha zhen
    """.split()
)
KOREAN = frozenset(
    """
    kim lee park choi jung jeong kang cho yoon yun jang lim han oh seo shin kwon hwang ahn song jeon hong
    ko moon yang son bae baek heo yoo noh nam ha kwak sung cha joo woo koo min ryu na jin
    """.split()
)
VIETNAMESE = frozenset(
    """
    nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly truong dinh lam mai trinh
    """.split()
)
# Less common ones, read as family names only in a three-word Vietnamese name (see below): as a part of
# a two-word name most of them are as likely a given name (Ha, Kim, Thai).
VIETNAMESE_MORE = frozenset("cao dao ha kim luong ta tong lai luu quach tieu trieu doan khuc".split())
# Syllables Vietnamese middle and given names are made of (without diacritics): a three-word name of a
# Vietnamese family name and two of these (Nguyen Van Trung) is written family name first.
VIETNAMESE_NAMES = frozenset(
    """
    an anh bac bang bao bich binh cam canh chau chi chien chinh cong cuc cuong dan danh dao dat diem diep
    dien dinh doan du duc dung duy duyen gia giang giao ha hai han hang hanh hao hau hien hieu hoa hoai
    hoan hoang hong hue hung huong huu huy huyen kha khai khang khanh khoa khoi khue kien kieu kim lam lan
    lanh le lien linh loan loc loi long luan luong ly mai manh minh my nam nga ngan nghia ngoc nguyen nhan
    nhat nhi nhu nhung ninh oanh phat phi phong phu phuc phung phuoc phuong quan quang que quoc quy quyen
    quynh sang son sy tai tam tan tham thang thanh thao the thi thien thinh tho thu thuan thuc thuy thuong
    tien tin toan trang tri trinh trong truc trung truong tu tuan tue tung tuong tuyen tuyet uyen van vi
    viet vinh vu vuong vy xuan y yen
    """.split()
)
# The most common ones, which are rarely given names: where both parts of a name are in the lists
# above (Wei Wang), the one in this list is taken as the family name.
TOP = frozenset(
    """
    wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang xie song
    tang han feng deng cao peng zeng xiao tian dong pan yuan cai jiang du ye cheng su lu ding ren shen yao
    kim lee park choi jung jeong kang cho yoon nguyen tran pham hoang huynh phan vu
    """.split()
)
FAMILY_FIRST = CHINESE | KOREAN | VIETNAMESE


def vietnamese_order(first: str, middle: str, last: str) -> tuple[str, str, str] | None:
    """A three-word name (lower-case ASCII words) read as Vietnamese names are written, as (given, middle,
    family); None when it does not read as one.

    Family name, middle name, given name (Nguyen Van Trung, Cao Xuan Hoang), or, written the Western
    way round, given name, family name, middle name (Tuan Do Anh for Do Anh Tuan)."""
    if _vietnamese_family(first) and middle in VIETNAMESE_NAMES and last in VIETNAMESE_NAMES and last != first:
        return last, middle, first
    if (
        first in VIETNAMESE_NAMES
        and middle in VIETNAMESE
        and last in VIETNAMESE_NAMES
        and not _vietnamese_family(first)
    ):
        return first, last, middle
    return None


def _vietnamese_family(word: str) -> bool:
    return word in VIETNAMESE or word in VIETNAMESE_MORE


_SYLLABLE = re.compile(
    r"(zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])(iang|iong|uang|ueng|iao|ian|uai|uan|ang|eng|ong|ai|ei|ao|ou|an|en|er|"
    r"ia|ie|iu|in|ing|ua|uo|ui|un|ue|a|o|e|i|u|v)"
)
_FIRST_SYLLABLE = re.compile(r"(ang|eng|ai|ao|ou|an|en|er|a|o|e)")


@lru_cache(maxsize=65536)
def pinyin_like(token: str) -> bool:
    """Whether a lower-case token splits into one to three pinyin syllables (hanxiang, zhiqiang, lei)."""

    def split(rest: str, count: int) -> bool:
        if not rest:
            return 0 < count <= 3
        if count >= 3:
            return False
        return any(
            _SYLLABLE.fullmatch(rest[:end]) is not None and split(rest[end:], count + 1)
            for end in range(len(rest), 0, -1)
        )

    if split(token, 0):
        return True
    lead = _FIRST_SYLLABLE.match(token)
    return bool(lead) and split(token[lead.end() :], 1) if lead else False
