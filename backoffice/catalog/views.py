"""Branch and product screens (configuration, no customer data)."""
from __future__ import annotations

from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from wtforms import SelectField
from wtforms.validators import DataRequired, NumberRange, Optional

from backoffice.datamodel import CrmInterface
from backoffice.formatting import choice_label, money, yes_no
from backoffice.views_base import CrmModelView, checkboxes
from models import Branch, Product
from models import choices as c


class BranchView(CrmModelView):
    datamodel = CrmInterface(Branch)
    class_permission_name = "Branch"
    route_base = "/branches"
    list_title = _l("Branches")
    show_title = _l("Branch")
    add_title = _l("Add branch")
    edit_title = _l("Edit branch")
    label_columns = {"code": _l("Code"), "name": _l("Name"), "city": _l("City"),
                     "address": _l("Address"), "phone": _l("Phone")}
    list_columns = ["code", "name", "city", "phone"]
    search_columns = ["code", "name", "city"]
    add_columns = edit_columns = show_columns = ["code", "name", "city", "address", "phone"]
    base_order = ("code", "asc")


class ProductView(CrmModelView):
    datamodel = CrmInterface(Product)
    class_permission_name = "Product"
    route_base = "/products"
    list_title = _l("Products")
    show_title = _l("Product")
    add_title = _l("Add product")
    edit_title = _l("Edit product")
    label_columns = {"code": _l("Code"), "name": _l("Name"), "category": _l("Category"),
                     "risk_level": _l("Risk level"), "min_amount": _l("Minimum amount"),
                     "description": _l("Description"),
                     "active": lazy_pgettext("switched on", "Active")}
    list_columns = ["code", "name", "category", "risk_level", "min_amount", "active"]
    search_columns = ["code", "name", "category", "risk_level", "active"]
    add_columns = edit_columns = show_columns = ["code", "name", "category", "risk_level",
                                                 "min_amount", "description", "active"]
    add_form_extra_fields = edit_form_extra_fields = {
        "category": SelectField(_l("Category"), choices=c.choice_list(c.PRODUCT_CATEGORIES),
                                validators=[DataRequired()], widget=Select2Widget()),
        "risk_level": SelectField(_l("Risk level"), choices=c.choice_list(c.RISK_LEVELS),
                                  validators=[DataRequired()], widget=Select2Widget()),
        **checkboxes({"active": lazy_pgettext("switched on", "Active")}, "active"),
    }
    validators_columns = {"min_amount": [Optional(), NumberRange(min=0)]}
    formatters_columns = {"category": choice_label(c.PRODUCT_CATEGORIES),
                          "risk_level": choice_label(c.RISK_LEVELS), "min_amount": money,
                          "active": yes_no}
    base_order = ("code", "asc")
